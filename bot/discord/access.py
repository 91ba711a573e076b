"""Who may read what in Discord: the [[scopes]] resolved against the servers the bot is in.

A scope names channels, categories and roles by id or by name; `Access.resolve` turns them
into ids from the guild caches. At start every name and id must resolve (the bot stops with one
line naming the first that does not); later, on the gateway events that rename or delete
channels and roles, they are resolved again, and whatever no longer resolves matches nothing:
deny until resolved. Before the first resolution every scope is denied.

`Access.readable(asker)` is the set of scope names a question asked by that member, in that
place, may be answered from (bot.search.scopes.Readable). In a server: the scopes whose
channels (a thread counts as its parent; a channel under a listed category counts) include
the place, and whose roles the member has one of. In a DM: the scopes with dm = true whose
roles the user has in a server the bot shares with them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import discord

from bot.config import Scope
from bot.search.scopes import PUBLIC

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asker:
    """Where a question was asked and by whom: all that decides what it may be answered from.
    channel_id is the channel itself, or a thread's parent; None in a DM."""

    user_id: int
    guild_id: int | None = None
    channel_id: int | None = None
    category_id: int | None = None
    role_ids: frozenset[int] = frozenset()

    @property
    def in_dm(self) -> bool:
        """Whether the question came in a direct message."""
        return self.guild_id is None


def _parent(channel: object) -> object:
    """A thread's parent channel (the place whose rules apply), else the channel itself."""
    if isinstance(channel, discord.Thread):
        return channel.parent if channel.parent is not None else channel
    return channel


def asker_of(user: discord.abc.User, guild: discord.Guild | None, channel: object) -> Asker:
    """The Asker for a message's author or an interaction's user, in channel."""
    if guild is None:
        return Asker(user.id)
    cached = guild.get_channel_or_thread(getattr(channel, "id", 0) or 0)
    channel = cached if cached is not None else channel  # interactions carry a partial one
    place = _parent(channel)
    channel_id = getattr(place, "id", None)
    if isinstance(channel, discord.Thread) and channel.parent is None:
        channel_id = channel.parent_id
    roles = getattr(user, "roles", None)
    if roles is None:  # a User, not a Member: look the member up in the cache
        member = guild.get_member(user.id)
        roles = member.roles if member is not None else []
    return Asker(
        user.id,
        guild.id,
        channel_id,
        getattr(place, "category_id", None),
        # (older discord.py lists None for an @everyone role not in the cache)
        frozenset(r.id for r in roles if r is not None),
    )


@dataclass(frozen=True)
class _Resolved:
    """A scope's rules as ids; None: no rule of that kind (anyone / any channel)."""

    channels: frozenset[int] | None
    roles: frozenset[int] | None
    dm: bool
    categories: frozenset[int] = field(default_factory=frozenset)

    def place_matches(self, asker: Asker) -> bool:
        if self.channels is None:
            return True
        return asker.channel_id in self.channels or asker.category_id in self.categories

    def member_matches(self, role_ids: frozenset[int]) -> bool:
        return self.roles is None or bool(self.roles & role_ids)


def _by_id_or_name(
    wanted: Sequence[int | str], found: Iterable[tuple[int, str]]
) -> tuple[frozenset[int], list[int | str]]:
    """The ids of wanted (ids, or names compared case-insensitively, "#" or "@" ignored) among
    found (id, name) pairs, and those of wanted that matched nothing."""
    found = list(found)
    ids = {i for i, _ in found}
    names: dict[str, set[int]] = {}
    for i, name in found:
        names.setdefault(name.casefold(), set()).add(i)
    out: set[int] = set()
    missing: list[int | str] = []
    for w in wanted:
        match = ({w} & ids) if isinstance(w, int) else names.get(w.lstrip("#@").strip().casefold())
        if match:
            out.update(match)
        else:
            missing.append(w)
    return frozenset(out), missing


class Access:
    """The scopes, resolved against the bot's guilds (see the module's docstring)."""

    def __init__(
        self,
        scopes: Sequence[Scope],
        guild_ids: Sequence[int] = (),
        gaps_roles: Sequence[int | str] = (),
    ) -> None:
        self.scopes = tuple(scopes)
        self.guild_ids = tuple(guild_ids)  # discord.guild_ids: only these servers count
        self.gaps_roles = tuple(gaps_roles)  # discord.gaps_roles: who may use /gaps
        self._resolved: dict[str, _Resolved] | None = None
        self._gaps_role_ids: frozenset[int] = frozenset()

    @property
    def resolved(self) -> bool:
        """Whether resolve() has run (until then every scope is denied)."""
        return self._resolved is not None

    def resolve(self, guilds: Iterable[discord.Guild]) -> list[str]:
        """Resolve every scope's names and ids against guilds; return one line per name or id
        that matches nothing (empty: all found). Unresolved ones match nobody."""
        guilds = [g for g in guilds if not self.guild_ids or g.id in self.guild_ids]
        channels = [(c.id, c.name) for g in guilds for c in g.channels]
        channels += [(t.id, t.name) for g in guilds for t in g.threads]
        categories = [(c.id, c.name) for g in guilds for c in g.categories]
        roles = [(r.id, r.name) for g in guilds for r in g.roles]
        resolved, problems = {}, []
        for scope in self.scopes:
            chan_ids, missing_c = _by_id_or_name(scope.channels, channels)
            cat_ids, missing_k = _by_id_or_name(scope.categories, categories)
            role_ids, missing_r = _by_id_or_name(scope.roles, roles)
            for kind, missing in (
                ("channel", missing_c),
                ("category", missing_k),
                ("role", missing_r),
            ):
                problems += [
                    f"scope {scope.name!r}: no {kind} {m!r} in the bot's servers" for m in missing
                ]
            places = bool(scope.channels or scope.categories)
            resolved[scope.name] = _Resolved(
                channels=chan_ids if places else None,
                roles=role_ids if scope.roles else None,
                dm=scope.dm,
                categories=cat_ids,
            )
        self._gaps_role_ids, missing = _by_id_or_name(self.gaps_roles, roles)
        problems += [f"discord.gaps_roles: no role {m!r} in the bot's servers" for m in missing]
        self._resolved = resolved
        return problems

    def has_gaps_role(self, member: discord.Member) -> bool:
        """Whether member has one of discord.gaps_roles (as last resolved)."""
        return any(r is not None and r.id in self._gaps_role_ids for r in member.roles)

    def readable(self, asker: Asker, dm_roles: frozenset[int] = frozenset()) -> frozenset[str]:
        """The scopes a question from asker may be answered from. dm_roles: in a DM, the
        user's roles across the servers the bot shares with them (`dm_roles_of`)."""
        if not self._resolved:
            return PUBLIC
        if asker.in_dm:
            return frozenset(
                name for name, r in self._resolved.items() if r.dm and r.member_matches(dm_roles)
            )
        if self.guild_ids and asker.guild_id not in self.guild_ids:
            return PUBLIC
        return frozenset(
            name
            for name, r in self._resolved.items()
            if r.place_matches(asker) and r.member_matches(asker.role_ids)
        )

    def needs_dm_roles(self) -> bool:
        """Whether some scope may be read in DMs by role (so a DM asker's roles are needed)."""
        return any(s.dm and s.roles for s in self.scopes)

    def can_view(self, member: discord.Member, channel_id: int | None) -> bool:
        """Whether member can read the channel (a gaps entry from there may be shown to them)."""
        if channel_id is None:
            return False
        channel = member.guild.get_channel_or_thread(channel_id)
        if channel is None:
            return False
        return channel.permissions_for(member).read_messages


async def dm_roles_of(
    client: discord.Client, user_id: int, guild_ids: Sequence[int]
) -> frozenset[int]:
    """A user's roles in every server the bot shares with them (for scopes readable in DMs):
    from the member cache, else one request per server; none where they are not a member."""
    roles: set[int] = set()
    for guild in client.guilds:
        if guild_ids and guild.id not in guild_ids:
            continue
        member = guild.get_member(user_id)
        if member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.HTTPException:
                continue
        roles.update(r.id for r in member.roles if r is not None)
    return frozenset(roles)
