"""The Ask cog: /ask, mentions, replies and DMs, with a per-user cooldown."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.answer.wording import clean_question, clean_text
from bot.config import DiscordSettings
from bot.discord.access import Asker, asker_of
from bot.discord.checks import Refused, check_place, error_message, help_post, place_allowed
from bot.discord.client import QuoteBotBase
from bot.discord.feedback import NO_MENTIONS, FeedbackLog, FeedbackView
from bot.discord.format import answer_embed, message_text, question_limit, thread_name

log = logging.getLogger(__name__)


class Cooldown:
    """Per-user cooldown with an injectable clock (so tests need no sleeping)."""

    MAX_USERS = 10_000  # forget stale entries past this many users

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._last: dict[int, float] = {}
        self._told: dict[int, float] = {}  # user -> the window they were last told about

    def take(self, user_id: int) -> float:
        """0 and start the user's cooldown, or the seconds left until they may ask again."""
        now = self.clock()
        last = self._last.get(user_id)
        if last is not None and now - last < self.seconds:
            return self.seconds - (now - last)
        if len(self._last) >= self.MAX_USERS:
            self._last = {u: t for u, t in self._last.items() if now - t < self.seconds}
            self._told = {u: t for u, t in self._told.items() if u in self._last}
        self._last[user_id] = now
        return 0.0

    def first_notice(self, user_id: int) -> bool:
        """True the first time a user is turned away in their current window, then False:
        one "slow down" notice a window, so repeated mentions cannot flood a channel."""
        window = self._last.get(user_id)
        if window is None or self._told.get(user_id) == window:
            return False
        self._told[user_id] = window
        return True


class TooQuick(Refused):
    """Turned away by the cooldown; repeat when the user was already told this window."""

    def __init__(self, message: str, *, repeat: bool) -> None:
        super().__init__(message)
        self.repeat = repeat


@dataclass
class Reply:
    """What to send: text, an embed, vote buttons."""

    content: str | None = None
    embed: discord.Embed | None = None
    view: FeedbackView | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for send(); mentions are always disabled."""
        out: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
        if self.content:
            out["content"] = message_text(self.content)
        if self.embed is not None:
            out["embed"] = self.embed
        if self.view is not None:
            out["view"] = self.view
        return out


def conversation_of(channel: object) -> int | None:
    """The conversation a question asked in channel belongs to: a thread or a DM, by id; a
    channel's own messages are no conversation (each stands alone)."""
    if isinstance(channel, discord.Thread | discord.DMChannel):
        return channel.id
    return None


class AskCog(commands.Cog):
    """Answers questions from /ask, mentions, replies to the bot's answers, and DMs."""

    def __init__(
        self,
        bot: QuoteBotBase,
        settings: DiscordSettings,
        feedback: FeedbackLog,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.feedback = feedback
        self.cooldown = Cooldown(settings.cooldown_seconds, clock)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Slash commands obey the same allow-lists as mentions."""
        return check_place(self.settings, interaction)

    def admit(self, question: str, user_id: int) -> str:
        """The cleaned question, or raise QuestionError/Refused with a message for the user."""
        q = clean_question(question, question_limit(self.bot.settings))
        wait = self.cooldown.take(user_id)
        if wait > 0:
            secs = max(1, math.ceil(wait))
            unit = "second" if secs == 1 else "seconds"
            raise TooQuick(
                f"You're asking quickly: please try again in {secs} {unit}.",
                repeat=not self.cooldown.first_notice(user_id),
            )
        return q

    async def respond(self, question: str, asker: Asker, conversation: int | None = None) -> Reply:
        """The reply to an admitted question from asker, computed off the event loop from the
        documents asker may read where they asked; in a conversation (a thread the bot started
        or answered in, a DM), read with the question it is about when it follows up on it."""
        if self.bot.answerer is None:
            raise Refused("I'm still loading my sources; please try again in a minute.")
        talk = self.bot.conversations
        context = talk.context(conversation) if conversation is not None else None
        answer, where = await self.bot.answer(
            question, self.bot.settings.retrieval.k, asker, context=context
        )
        if conversation is not None:
            talk.asked(conversation, question)
        embed = answer_embed(answer) if answer.answered else None
        view = FeedbackView(self.feedback, answer, where=where)
        declined = Reply(content=self.settings.decline_text, view=view)
        return Reply(embed=embed, view=view) if answer.answered else declined

    @app_commands.command(name="ask")
    @app_commands.describe(question="What you want to know; I answer by quoting my sources.")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        """Ask a question; I answer by quoting my sources word for word."""
        q = self.admit(question, interaction.user.id)  # refusals go to the error handler
        await interaction.response.defer(thinking=True)
        reply = await self.respond(
            q,
            asker_of(interaction.user, interaction.guild, interaction.channel),
            conversation_of(interaction.channel),
        )
        sent = await interaction.followup.send(wait=True, **reply.kwargs())
        if reply.view is not None:
            reply.view.message = sent

    def question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, or None when the bot should stay silent."""
        me = self.bot.user
        if me is None or message.author.bot or message.webhook_id or message.author.id == me.id:
            return None  # never answer itself or other bots: no loops
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return None
        if help_post(self.settings, message) is not None:
            return None  # a new post in a help channel: the help-channels cog answers it
        if not place_allowed(
            self.settings, message.guild.id if message.guild else None, message.channel
        ):
            return None
        if message.guild is not None:
            # A user mention only: @everyone/@here and role pings do not address the bot.
            mentioned = any(u.id == me.id for u in message.mentions)
            ref = message.reference.resolved if message.reference else None
            replying = isinstance(ref, discord.Message) and ref.author.id == me.id
            # A thread the bot started for an answer is a conversation with it, as a DM is
            # (not in help channels, where the community answers too: mention it there).
            channel = message.channel
            own_thread = (
                isinstance(channel, discord.Thread)
                and channel.owner_id == me.id
                and all(h.id != channel.parent_id for h in self.settings.help_channels)
            )
            if not (mentioned or replying or own_thread):
                return None
        return clean_text(re.sub(rf"<@!?{me.id}>", " ", message.content)).strip()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer a mention, a reply to an answer, or a DM, with a typing indicator meanwhile."""
        question = self.question_in(message)
        if question is None:
            return
        try:
            q = self.admit(question, message.author.id)
            async with message.channel.typing():
                reply = await self.respond(
                    q,
                    asker_of(message.author, message.guild, message.channel),
                    conversation_of(message.channel),
                )
        except TooQuick as exc:
            if exc.repeat:  # told once this window already: stay silent
                log.info("Cooldown: not answering user %s again", message.author.id)
                return
            reply = Reply(content=str(exc))
        except Exception as exc:  # the one error text; the traceback is logged there
            reply = Reply(content=error_message(exc))
        await self.deliver(message, reply, question)

    async def deliver(self, message: discord.Message, reply: Reply, question: str) -> None:
        """Send the reply: in a new thread (thread mode, answers only) or as a reply."""
        kwargs = reply.kwargs()
        sent: discord.Message | None = None
        if (
            self.settings.threads
            and reply.view is not None
            and isinstance(message.channel, discord.TextChannel)
        ):
            try:
                thread = await message.create_thread(name=thread_name(question))
                sent = await thread.send(**kwargs)
                self.bot.conversations.asked(thread.id, question)  # follow-ups go there
            except discord.HTTPException as exc:
                log.warning("Could not answer in a thread (%s); replying in the channel", exc)
        if sent is None:
            try:
                sent = await message.channel.send(
                    reference=message.to_reference(fail_if_not_exists=False),
                    mention_author=False,
                    **kwargs,
                )
            except discord.HTTPException as exc:
                log.warning("Could not send an answer in channel %s: %s", message.channel.id, exc)
                return
        if reply.view is not None:
            reply.view.message = sent


async def setup(bot: QuoteBotBase) -> None:
    """Add the cog (the client loads this module as a discord.py extension)."""
    d = bot.settings.discord
    await bot.add_cog(AskCog(bot, d, bot.feedback, clock=bot.clock))
