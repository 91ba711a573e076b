"""Offline Discord fakes: real discord.py objects built from gateway payloads, with the HTTP
layer replaced by a recorder (messages) and a recording response/followup (interactions).

What is asserted is what would go over the wire: content, embeds, allowed_mentions.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import discord

from bot.answer.compose import Answer, Source
from bot.config import settings_from_dict
from bot.discord.client import QuoteBot

BOT_ID = 900000000000000001
GUILD_ID = 800000000000000001
CHANNEL_ID = 700000000000000001
OTHER_CHANNEL_ID = 700000000000000002
APP_ID = 600000000000000001
FAKE_CONFIDENCE = 0.9  # what FakeAnswerer's answers carry
_ids = itertools.count(500000000000000001)


def user_payload(user_id: int, name: str = "alice", *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
    }


def source(
    passage: str, quote: str, *, title: str = "Doc", path: str = "doc.txt", score: float = 0.8
) -> Source:
    """A Source whose quote is found inside passage (offsets as the core computes them)."""
    at = passage.index(quote)
    return Source(
        title, path, passage, quote, score, 100, 100 + len(passage), 100 + at, 100 + at + len(quote)
    )


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeAnswerer:
    """Answers "Q" with a passage quoting Q back; records which threads it ran in."""

    def __init__(self, *, raises: BaseException | None = None, answered: bool = True) -> None:
        self.raises = raises
        self.answered = answered
        self.threads: list[str] = []
        self.questions: list[str] = []
        self.release: threading.Event | None = None  # when set, ask waits for it
        self.started = threading.Event()
        self.blocked = False
        self.results: list[Source] | None = None
        doc = MagicMock()
        doc.title, doc.source = "Music video", "video.txt"
        self.index = MagicMock()
        self.index.documents = [doc]
        self.retriever = MagicMock()

    def ask(self, question: str, k: int | None = None) -> Answer:
        self.threads.append(threading.current_thread().name)
        self.questions.append(question)
        self.started.set()
        if self.release is not None and (self.blocked or not self.release.wait(5)):
            self.blocked = True  # fail the rest at once, so a blocked loop fails fast
            raise RuntimeError("ask was never released: the event loop was blocked")
        if self.raises is not None:
            raise self.raises
        results = self.results or [
            source(
                f"Intro sentence. The answer to {question} is here. Closing sentence.",
                f"The answer to {question} is here.",
                title="Music video",
                path="video.txt",
            )
        ]
        return Answer(question, self.answered, results, FAKE_CONFIDENCE)


class FakeHTTP:
    """Stands in for the bot's HTTPClient: records what would be sent, returns payloads."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.typing: list[int] = []
        self.threads: list[dict[str, Any]] = []

    async def send_message(self, channel_id: int, *, params: Any) -> dict[str, Any]:
        payload = dict(params.payload)
        payload["channel_id"] = int(channel_id)
        self.sent.append(payload)
        return message_payload(
            int(channel_id),
            user_payload(BOT_ID, "quotebot", bot=True),
            payload.get("content") or "",
        )

    async def send_typing(self, channel_id: int) -> None:
        self.typing.append(int(channel_id))

    async def start_thread_with_message(
        self, channel_id: int, message_id: int, *, name: str, **_: Any
    ) -> dict:
        thread_id = next(_ids)
        self.threads.append({"id": thread_id, "name": name, "parent": int(channel_id)})
        return thread_payload(thread_id, name, int(channel_id), BOT_ID, messages=0)


def thread_payload(
    thread_id: int, name: str, parent_id: int, owner_id: int, *, messages: int = 1
) -> dict[str, Any]:
    """A thread (or forum post) in the fake guild, as the gateway describes it."""
    return {
        "id": str(thread_id),
        "type": 11,
        "name": name,
        "parent_id": str(parent_id),
        "guild_id": str(GUILD_ID),
        "owner_id": str(owner_id),
        "message_count": messages,
        "member_count": 1,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2024-01-01T00:00:00+00:00",
            "locked": False,
        },
    }


def message_payload(
    channel_id: int, author: dict[str, Any], content: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(next(_ids)),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        **extra,
    }


async def make_bot(
    tmp_path: Path,
    answerer: Any,
    *,
    core: Any = None,
    top: dict[str, Any] | None = None,
    **discord_settings: Any,
) -> tuple[QuoteBot, FakeHTTP, FakeClock]:
    """A QuoteBot with cogs loaded, logged in as BOT_ID, on a fake HTTP layer. With core (a
    bot.discord.client.Core), the real index, background updates and watch mode of its
    settings instead of answerer. top: more top-level settings ([[scopes]])."""
    discord_settings.setdefault("feedback_file", str(tmp_path / "feedback.jsonl"))
    settings = settings_from_dict({**(top or {}), "discord": discord_settings}, tmp_path)
    clock = FakeClock()
    reindexed = FakeAnswerer()

    def reindex(current: Any) -> tuple[Any, str]:
        return reindexed, "Reindexed 1 documents: embedded 1, reused 0, removed 0."

    if core is not None:
        bot = QuoteBot(
            core.settings,
            load=core.load,
            reindex=core.reindex,
            updates=core,
            clock=clock,
            sync_commands=False,
        )
    else:
        bot = QuoteBot(
            settings, load=lambda: answerer, reindex=reindex, clock=clock, sync_commands=False
        )
    state = bot._connection
    state.user = discord.ClientUser(state=state, data=user_payload(BOT_ID, "quotebot", bot=True))
    state.application_id = APP_ID
    http = FakeHTTP()
    bot.http.send_message = http.send_message  # type: ignore[method-assign]
    bot.http.send_typing = http.send_typing  # type: ignore[method-assign]
    bot.http.start_thread_with_message = http.start_thread_with_message  # type: ignore[method-assign]
    guild = state._get_or_create_unavailable_guild(GUILD_ID)
    state._add_guild(guild)
    for cid in (CHANNEL_ID, OTHER_CHANNEL_ID):
        channel = discord.TextChannel(
            state=state,
            guild=guild,
            data={"id": str(cid), "type": 0, "name": f"c{cid}", "position": 0},
        )
        guild._add_channel(channel)
    await bot.__aenter__()  # `async with bot`: binds the running loop
    await bot.setup_hook()  # what login() then runs: opens the index, adds the cogs
    return bot, http, clock


async def deliver(bot: QuoteBot, message: discord.Message) -> None:
    """What discord.py does with a MESSAGE_CREATE: every on_message listener of the bot's cogs
    gets the message (awaited here one after the other; discord.py schedules each as a task)."""
    for cog in bot.cogs.values():
        for event, listener in cog.get_listeners():
            if event == "on_message":
                await listener(message)


async def dispatch(bot: QuoteBot, event: str, *args: Any) -> None:
    """What discord.py does with a gateway event: every listener added for it (add_listener)
    gets the arguments (awaited here one after the other; discord.py schedules each)."""
    listeners = bot.extra_events.get(f"on_{event}", [])
    assert listeners, f"nothing listens to {event}"
    for listener in listeners:
        await listener(*args)


async def run_command(bot: QuoteBot, interaction: discord.Interaction) -> None:
    """What discord.py does with an application-command INTERACTION_CREATE: the tree's and the
    cog's interaction_check, the command, the tree's on_error. CommandTree has no public entry
    point for it: _from_interaction schedules this same coroutine on an Interaction it builds
    itself, whose response and followup would go to Discord instead of being recorded."""
    await bot.tree._call(interaction)


def guild_message(
    bot: QuoteBot,
    content: str,
    *,
    author_id: int = 1001,
    author_bot: bool = False,
    channel_id: int = CHANNEL_ID,
    mention_bot: bool = True,
    **extra: Any,
) -> discord.Message:
    """A message in a guild text channel, optionally mentioning the bot."""
    channel = bot.get_channel(channel_id)
    mentions = [user_payload(BOT_ID, "quotebot", bot=True)] if mention_bot else []
    data = message_payload(
        channel_id,
        user_payload(author_id, f"user{author_id}", bot=author_bot),
        content,
        mentions=mentions,
        guild_id=str(GUILD_ID),
        **extra,
    )
    return discord.Message(state=bot._connection, channel=channel, data=data)  # type: ignore[arg-type]


def dm_message(bot: QuoteBot, content: str, *, author_id: int = 1001) -> discord.Message:
    """A direct message to the bot."""
    author = user_payload(author_id, f"user{author_id}")
    channel_id = next(_ids)
    channel = discord.DMChannel(
        me=bot.user,
        state=bot._connection,  # type: ignore[arg-type]
        data={"id": str(channel_id), "type": 1, "recipients": [author]},
    )
    return discord.Message(
        state=bot._connection, channel=channel, data=message_payload(channel_id, author, content)
    )


class FakeResponse:
    """Records InteractionResponse calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def is_done(self) -> bool:
        return bool(self.calls)

    async def defer(self, **kwargs: Any) -> None:
        self.calls.append(("defer", kwargs))

    async def send_message(self, content: str | None = None, **kwargs: Any) -> None:
        self.calls.append(("send_message", {"content": content, **kwargs}))


class FakeFollowup:
    """Records followup webhook sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, content: str | None = None, **kwargs: Any) -> MagicMock:
        self.sent.append({"content": content, **kwargs})
        return MagicMock(spec=discord.WebhookMessage)


class FakeInteraction(discord.Interaction):
    """A real Interaction parsed from a slash-command payload; response/followup record."""

    def __init__(
        self,
        bot: QuoteBot,
        command: str,
        *,
        user_id: int = 1001,
        guild: bool = True,
        channel_id: int = CHANNEL_ID,
        permissions: int = 0,
        roles: tuple[int, ...] = (),
        **options: str,
    ) -> None:
        data: dict[str, Any] = {
            "id": str(next(_ids)),
            "application_id": str(APP_ID),
            "token": "",
            "version": 1,
            "type": 2,
            "attachment_size_limit": 0,
            "data": {
                "type": 1,
                "id": str(next(_ids)),
                "name": command,
                "options": [{"type": 3, "name": k, "value": v} for k, v in options.items()],
            },
        }
        user = user_payload(user_id, f"user{user_id}")
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["channel"] = {"id": str(channel_id), "type": 0}
            data["member"] = {
                "user": user,
                "roles": [str(r) for r in roles],
                "joined_at": "2024-01-01T00:00:00+00:00",
                "permissions": str(permissions),
                "deaf": False,
                "mute": False,
                "flags": 0,
            }
        else:
            data["channel"] = {"id": str(next(_ids)), "type": 1, "recipients": [user]}
            data["user"] = user
        super().__init__(data=data, state=bot._connection)  # type: ignore[arg-type]
        self.fake_response = FakeResponse()
        self.fake_followup = FakeFollowup()

    @property
    def response(self) -> FakeResponse:  # type: ignore[override]
        return self.fake_response

    @property
    def followup(self) -> FakeFollowup:  # type: ignore[override]
        return self.fake_followup


def button_interaction(bot: QuoteBot, *, user_id: int = 1001) -> FakeInteraction:
    """An interaction standing in for a button click (only user and response are used)."""
    return FakeInteraction(bot, "vote", user_id=user_id)


FORUM_ID = 700000000000000003


def forum_post(
    bot: QuoteBot,
    title: str,
    content: str,
    *,
    forum_id: int = FORUM_ID,
    author_id: int = 1001,
    mention_bot: bool = False,
) -> discord.Message:
    """The first message of a new post (thread) in a forum channel: its id is the thread's."""
    state = bot._connection
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    if guild.get_channel(forum_id) is None:
        forum = discord.ForumChannel(
            state=state,
            guild=guild,
            data={"id": str(forum_id), "type": 15, "name": "help-forum", "position": 1},  # type: ignore[typeddict-item]
        )
        guild._add_channel(forum)
    thread_id = next(_ids)
    thread = discord.Thread(
        guild=guild,
        state=state,
        data=thread_payload(thread_id, title, forum_id, author_id),  # type: ignore[arg-type]
    )
    guild._add_thread(thread)
    data = message_payload(
        thread_id,
        user_payload(author_id, f"user{author_id}"),
        content,
        mentions=[user_payload(BOT_ID, "quotebot", bot=True)] if mention_bot else [],
        guild_id=str(GUILD_ID),
    )
    data["id"] = str(thread_id)
    return discord.Message(state=state, channel=thread, data=data)


def message_command(
    bot: QuoteBot, name: str, target: dict[str, Any], *, user_id: int = 1001
) -> FakeInteraction:
    """A message-command interaction (Apps menu) on the message payload target."""
    inter = FakeInteraction(bot, name, user_id=user_id)
    target = {**target, "guild_id": str(GUILD_ID)}
    inter.data = {  # type: ignore[assignment]
        "type": 3,
        "id": str(next(_ids)),
        "name": name,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: target}},
    }
    return inter


def add_role(bot: QuoteBot, role_id: int, name: str, permissions: int = 0) -> discord.Role:
    """A role in the fake guild (role_id GUILD_ID: @everyone, whose permissions every member
    has)."""
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    role = discord.Role(
        guild=guild,
        state=bot._connection,
        data={"id": str(role_id), "name": name, "permissions": str(permissions), "position": 1},  # type: ignore[typeddict-item]
    )
    guild._add_role(role)
    return role


def add_channel(
    bot: QuoteBot, channel_id: int, name: str, *, category_id: int | None = None
) -> discord.TextChannel:
    """A text channel in the fake guild (under a category when category_id is given)."""
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    data: dict[str, Any] = {"id": str(channel_id), "type": 0, "name": name, "position": 2}
    if category_id is not None:
        data["parent_id"] = str(category_id)
    channel = discord.TextChannel(state=bot._connection, guild=guild, data=data)  # type: ignore[arg-type]
    guild._add_channel(channel)
    return channel


def member_payload(user_id: int, roles: tuple[int, ...] = ()) -> dict[str, Any]:
    """The "member" of a guild message payload: the author's roles there."""
    return {
        "roles": [str(r) for r in roles],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
    }
