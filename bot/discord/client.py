"""The Discord bot: a commands.Bot subclass given its dependencies, and run() for the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.answer.batching import Batcher
from bot.answer.compose import Answer, Answerer
from bot.answer.conversations import Conversations
from bot.answer.gaps import DECLINED, GapsLog, Where
from bot.config import Settings
from bot.discord.access import Access, Asker, dm_roles_of
from bot.discord.checks import error_message
from bot.discord.feedback import NO_MENTIONS, FeedbackLog
from bot.discord.format import message_text

if TYPE_CHECKING:
    from bot.live import LiveIndex, Update
    from bot.search.scopes import Readable
    from bot.search.staleness import StaleReason

log = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_ERROR = 1
# The cogs, one per feature; each module's setup() adds its cog (they import this module, not
# the other way round).
EXTENSIONS = (
    "bot.discord.exts.ask",
    "bot.discord.exts.info",
    "bot.discord.exts.help_channels",
    "bot.discord.exts.message_command",
    "bot.discord.exts.gaps",
)
MISSING_TOKEN = (
    "error: DISCORD_TOKEN is not set; put the bot token in the environment "
    "or in a .env file in this folder (see README.md, section Discord)"
)
BAD_TOKEN = (
    "error: Discord rejected the token in DISCORD_TOKEN (invalid or reset); "
    "copy a new one from the Developer Portal, Bot page"
)
NO_INTENT = (
    "error: the Message Content intent is not enabled for this application; turn it on in the "
    "Developer Portal under Bot, Privileged Gateway Intents"
)


# The gateway events after which the scopes' channels and roles are resolved again.
RESCOPE_EVENTS = tuple(
    f"on_guild_{what}"
    for what in (
        "channel_create",
        "channel_delete",
        "channel_update",
        "role_create",
        "role_delete",
        "role_update",
        "join",
        "remove",
    )
)


class QuoteTree(app_commands.CommandTree):
    """The command tree with the bot's one error handler for slash commands."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Turn any failure into a private reply (the traceback of unexpected ones is logged)."""
        text = message_text(error_message(error))
        send = (
            interaction.followup.send
            if interaction.response.is_done()
            else interaction.response.send_message
        )
        try:
            await send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("Could not send an error reply", exc_info=True)


class Updates(Protocol):
    """Background index updates (Core, or a test double)."""

    def start_updates(self, ready: Callable[[], None]) -> None:
        """Start updating; call ready (from any thread) when an update can be taken."""

    def take_update(self) -> Update | None:
        """The finished update, if any."""

    def stop_updates(self) -> None:
        """Stop watching and updating."""


class QuoteBotBase(commands.Bot):
    """The bot: loads the answerer and cogs in setup_hook, answers in a worker thread.

    load() opens the answerer; reindex(current) rebuilds the index and returns a new answerer
    and a summary. Both block, so they run in the worker thread, which also runs every
    question: one worker keeps the core single-threaded (questions queue, none is lost) while
    the event loop, and so the gateway heartbeat, stays free.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        load: Callable[[], Answerer],
        reindex: Callable[[Answerer], tuple[Answerer, str]],
        clock: Callable[[], float] = time.monotonic,
        sync_commands: bool = True,
        updates: Updates | None = None,
        **options: Any,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: needed to read questions in mentions
        super().__init__(
            command_prefix=commands.when_mentioned,  # unused: there are no prefix commands
            help_command=None,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            tree_cls=QuoteTree,
            **options,
        )
        self.settings = settings
        self._load = load
        self._reindex = reindex
        self.clock = clock
        self.sync_commands = sync_commands
        self.answerer: Answerer | None = None
        self._batcher: Batcher | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quotebot-core")
        self.reindex_lock = asyncio.Lock()
        self._updates = updates
        # Declined questions and 👎 votes, for the documentation team (`gaps`, /gaps).
        self.gaps = GapsLog(
            Path(settings.discord.gaps_file), retention_days=settings.discord.gaps_retention_days
        )
        self.feedback = FeedbackLog(Path(settings.discord.feedback_file), gaps=self.gaps)
        # [[scopes]] resolved against the guilds once connected; denied until then.
        d = settings.discord
        self.access = Access(settings.scopes, d.guild_ids, d.gaps_roles)
        for event in RESCOPE_EVENTS:
            self.add_listener(self._rescope, event)
        self.failure: str | None = None  # why the bot stopped itself at start, for run()
        # Threads it started, forum posts it answered, DMs: what follow-ups are read with.
        self.conversations = Conversations(clock)

    async def setup_hook(self) -> None:
        """Open the index, add the cogs, and sync slash commands."""
        if self.answerer is None:
            self.answerer = await self.run_blocking(self._load)
        if self._updates is not None:
            loop = asyncio.get_running_loop()

            def ready() -> None:
                # The update runs in its own thread; the switch happens on the event loop,
                # between one question and the next (an answer in progress keeps its answerer).
                loop.call_soon_threadsafe(self.take_update)

            self._updates.start_updates(ready)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.sync_commands:
            await self.sync_app_commands()

    async def sync_app_commands(self) -> None:
        """Sync slash commands to the development guild if set (instant), else globally."""
        dev = self.settings.discord.dev_guild_id
        try:
            if dev:
                guild = discord.Object(id=dev)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            else:
                synced = await self.tree.sync()
        except discord.HTTPException as exc:
            log.error(
                "Could not sync slash commands%s: %s. Is the bot in that server, invited with the "
                "applications.commands scope?",
                f" to guild {dev}" if dev else "",
                exc,
            )
            return
        log.info(
            "Synced %d slash commands %s", len(synced), f"to guild {dev}" if dev else "globally"
        )

    async def readable(self, asker: Asker | None) -> Readable:
        """The scopes a question from asker may be answered from (None: everything, when no
        scopes are configured; a question with no asker gets the public documents only)."""
        if not self.settings.scopes:
            return None
        if asker is None:
            return frozenset()
        dm_roles: frozenset[int] = frozenset()
        if asker.in_dm and self.access.needs_dm_roles():
            dm_roles = await dm_roles_of(self, asker.user_id, self.settings.discord.guild_ids)
        return self.access.readable(asker, dm_roles)

    def where(self, asker: Asker | None, readable: Readable) -> Where:
        """The gaps log's record of where a question was asked (the user as a keyed hash)."""
        if asker is None:
            return Where(scopes=tuple(sorted(readable)) if readable is not None else None)
        return Where(
            guild=asker.guild_id,
            channel=asker.channel_id,
            scopes=tuple(sorted(readable)) if readable is not None else None,
            user=self.gaps.user_key(asker.user_id),
        )

    async def answer(
        self, question: str, k: int, asker: Asker | None = None, *, context: str | None = None
    ) -> tuple[Answer, Where]:
        """Answer off the event loop, from the documents asker may read here, and say where it
        was asked (for the gaps log). context: the question of the conversation it was asked
        in, which a follow-up is read with (never quoted or shown). A real Answerer goes
        through a Batcher, which embeds questions that arrive together in one model call
        (bot.answer.batching); anything else (a test double) runs in the worker thread."""
        answerer = self.answerer
        if answerer is None:
            raise RuntimeError("answer() before the index was loaded")
        readable = await self.readable(asker)
        if isinstance(answerer, Answerer):
            if self._batcher is None:
                self._batcher = Batcher(answerer)
            self._batcher.answerer = answerer  # follows /reindex
            answer = await self._batcher.ask(question, k, readable=readable, context=context)
        else:
            answer = await self.run_blocking(answerer.ask, question, k)
        where = self.where(asker, readable)
        if not answer.answered:
            await asyncio.to_thread(
                partial(self.gaps.append, answer.question, DECLINED, where=where)
            )
        return answer, where

    def resolve_scopes(self, *, at_start: bool = False) -> None:
        """Resolve the scopes' channels, categories and roles against the guilds. At start a
        name or id that matches nothing stops the bot with one line naming it (a typo there
        would deny, or grant, the wrong people); later it is logged and denied."""
        if not (self.settings.scopes or self.settings.discord.gaps_roles):
            return
        problems = self.access.resolve(self.guilds)
        for problem in problems[1:] if at_start else problems:
            log.warning("%s", problem)
        if problems and at_start:
            self.failure = f"error: {problems[0]} (see [[scopes]] in the config file)"
            log.error("%s", self.failure)
            asyncio.get_running_loop().create_task(self.close())

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call in the worker thread, keeping the event loop free."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def reindex(self) -> str:
        """Rebuild the index from the seeds, switch to it, and say what changed."""
        async with self.reindex_lock:
            if self.answerer is None:
                return "I'm still loading my sources; please try again in a minute."
            answerer, summary = await self.run_blocking(self._reindex, self.answerer)
            self.answerer = answerer
            return summary

    async def on_message(self, message: discord.Message) -> None:
        """No prefix commands: the Ask cog's listener handles messages."""

    async def on_ready(self) -> None:
        """Say who we are once connected, and resolve the scopes (the first time: or stop)."""
        log.info(
            "Logged in as %s (id %s) in %d servers",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
        )
        self.resolve_scopes(at_start=not self.access.resolved)

    async def _rescope(self, *_: object) -> None:
        """A channel or role renamed, made or deleted, a server joined or left: resolve the
        scopes again (deny what no longer matches). One cheap pass over the guild caches."""
        self.resolve_scopes()

    def take_update(self) -> None:
        """Answer from the index a background update finished (on the event loop)."""
        update = self._updates.take_update() if self._updates is not None else None
        if update is None:
            return
        if update.loaded is not None:
            self.answerer = update.loaded.answerer  # the Batcher follows on the next question
            log.info("%s", update.message)
        else:
            log.warning("%s", update.message)

    async def close(self) -> None:
        """Disconnect, then stop the worker thread."""
        if self._updates is not None:
            self._updates.stop_updates()
        await super().close()
        if self._batcher is not None:
            await self._batcher.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)


class QuoteBot(QuoteBotBase):
    """The bot on one gateway connection."""


class ShardedQuoteBot(QuoteBotBase, commands.AutoShardedBot):
    """The bot on as many shards as Discord recommends (discord.sharded = true)."""


def read_token(env_file: Path = Path(".env")) -> str | None:
    """DISCORD_TOKEN from the environment, else from a .env file; None when unset."""
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if not token and env_file.is_file():
        from dotenv import dotenv_values

        token = (dotenv_values(env_file).get("DISCORD_TOKEN") or "").strip()
    return token or None


class Core:
    """The blocking core operations the bot needs: open the answerer, rebuild the index."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.live: LiveIndex | None = None
        self._stale: list[StaleReason] = []

    def load(self) -> Answerer:
        """Open the index (building it only if there is none) and return an Answerer; a stale
        index is answered from while start_updates brings it up to date in the background."""
        from bot.live import open_live
        from bot.search.staleness import describe

        self.live, self._stale = open_live(self.settings, progress=False)
        if self._stale:
            log.info(
                "The index is out of date (%s); answering from it while it updates.",
                describe(self._stale),
            )
        return self.live.current.answerer

    def start_updates(self, ready: Callable[[], None]) -> None:
        """Update a stale index in the background and, with watch on, follow seeds_dir."""
        if self.live is not None:
            self.live.on_ready = ready
            self.live.start(stale=bool(self._stale))
            if self.settings.watch:
                log.info("Watching %s for changes", self.settings.seeds_dir)

    def take_update(self) -> Update | None:
        """The background update finished since the last call, if any."""
        return self.live.adopt_update() if self.live is not None else None

    def stop_updates(self) -> None:
        """Stop watching and updating."""
        if self.live is not None:
            self.live.close()

    def reindex(self, current: Answerer) -> tuple[Answerer, str]:
        """Update the index from the seeds now; return the Answerer to use and a summary for
        the user. The same updater as watch mode: one model, one switch."""
        if self.live is None:
            self.load()
        assert self.live is not None
        update = self.live.update_now()
        total = len(self.live.current.index.documents)
        embedded = len(update.added) + len(update.changed) if update else 0
        removed = len(update.removed) if update else 0
        return self.live.current.answerer, (
            f"Reindexed {total} documents: embedded {embedded}, "
            f"reused {total - embedded}, removed {removed}."
        )


def make_bot(settings: Settings, core: Core, **options: Any) -> QuoteBotBase:
    """The bot class the settings ask for, wired to core: one connection; or with sharded, or
    a shard_count, AutoShardedBot running shard_ids of shard_count (all of them when no ids)."""
    d = settings.discord
    options.setdefault("updates", core)
    if not (d.sharded or d.shard_count):
        return QuoteBot(settings, load=core.load, reindex=core.reindex, **options)
    if d.shard_count:
        options.setdefault("shard_count", d.shard_count)
    if d.shard_ids:
        options.setdefault("shard_ids", list(d.shard_ids))
        if 0 not in d.shard_ids:  # one process syncs the slash commands: the one with shard 0
            options.setdefault("sync_commands", False)
    return ShardedQuoteBot(settings, load=core.load, reindex=core.reindex, **options)


async def main(settings: Settings, token: str) -> str | None:
    """Run the bot until it is closed; return why it stopped itself, if it did."""
    async with make_bot(settings, Core(settings)) as bot:
        await bot.start(token)
    return bot.failure


def run(settings: Settings) -> int:
    """Start the bot for `python -m bot discord`; return the exit code."""
    token = read_token()
    if token is None:
        print(MISSING_TOKEN, file=sys.stderr)
        return EXIT_ERROR
    # The bot never joins voice: discord.py's warnings about voice libraries are noise here.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    for name in ("bot", "discord"):  # connection progress is worth seeing while the bot runs
        logging.getLogger(name).setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))
    try:
        failure = asyncio.run(main(settings, token))
    except discord.LoginFailure:
        print(BAD_TOKEN, file=sys.stderr)
        return EXIT_ERROR
    except discord.PrivilegedIntentsRequired:
        print(NO_INTENT, file=sys.stderr)
        return EXIT_ERROR
    except (OSError, aiohttp.ClientError) as exc:  # DNS, refused, TLS: no way to Discord
        print(
            f"error: cannot reach Discord ({exc}); check the network and try again", file=sys.stderr
        )
        return EXIT_ERROR
    if failure:
        print(failure, file=sys.stderr)
        return EXIT_ERROR
    return 0
