"""The help-channels cog: new posts in help and forum channels answered without a mention,
only when the bot is confident; the community answers the rest."""

from __future__ import annotations

import logging
import re

import discord
from discord.ext import commands

from bot.config import DiscordSettings, HelpChannel
from bot.discord.access import asker_of
from bot.discord.checks import help_post
from bot.discord.client import QuoteBotBase
from bot.discord.exts.ask import Cooldown, Reply
from bot.discord.feedback import FeedbackView
from bot.discord.format import answer_embed, question_limit, thread_name

log = logging.getLogger(__name__)


class HelpChannelsCog(commands.Cog):
    """Answers each new post (or new forum thread) in the configured help channels, or stays
    silent when its sources are not clearly enough on point."""

    def __init__(self, bot: QuoteBotBase, settings: DiscordSettings) -> None:
        self.bot = bot
        self.settings = settings
        # Silent cooldown: a help channel is no place for "you're asking quickly" notes.
        self.cooldown = Cooldown(settings.cooldown_seconds, bot.clock)

    def bar(self, channel: HelpChannel) -> float:
        """The confidence an answer needs in this channel (its own, else the global one)."""
        return channel.min_confidence or self.settings.help_min_confidence

    def post_in(self, message: discord.Message) -> tuple[HelpChannel, str, bool] | None:
        """The help channel, question and whether the bot was mentioned, for a new post the
        bot should consider; None otherwise."""
        me = self.bot.user
        if me is None or message.author.bot or message.webhook_id or message.guild is None:
            return None
        channel = help_post(self.settings, message)
        if channel is None:
            return None
        if self.settings.guild_ids and message.guild.id not in self.settings.guild_ids:
            return None
        mentioned = any(u.id == me.id for u in message.mentions)
        if channel.require_mention and not mentioned:
            return None
        text = re.sub(rf"<@!?{me.id}>", " ", message.content)
        if isinstance(message.channel, discord.Thread):
            text = f"{message.channel.name}\n{text}"  # a forum post's title is half its question
        question = " ".join(text.split())
        limit = question_limit(self.bot.settings)
        if len(question) > limit:  # a long post: its start says what it asks
            question = question[: limit + 1].rsplit(" ", 1)[0][:limit]
        return (channel, question, mentioned) if question else None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer a new help post when confident (or when mentioned); otherwise stay silent."""
        found = self.post_in(message)
        if found is None:
            return
        channel, question, mentioned = found
        if self.cooldown.take(message.author.id) > 0 or self.bot.answerer is None:
            return
        try:
            answer, where = await self.bot.answer(
                question,
                self.bot.settings.retrieval.k,
                asker_of(message.author, message.guild, message.channel),
            )
        except Exception:
            log.exception("Answering a help post failed")
            return
        view = FeedbackView(self.bot.feedback, answer, where=where)
        if answer.answered and answer.confidence >= self.bar(channel):
            reply = Reply(embed=answer_embed(answer), view=view)
        elif mentioned:  # asked by name: say the sources don't cover it, as everywhere else
            reply = Reply(content=self.settings.decline_text, view=view)
        else:
            log.info(
                "Help post in %s skipped: confidence %.2f below %.2f",
                channel.id,
                answer.confidence,
                self.bar(channel),
            )
            return
        await self.deliver(message, channel, reply, question)

    async def deliver(
        self, message: discord.Message, channel: HelpChannel, reply: Reply, question: str
    ) -> None:
        """Reply in the forum post's thread, in a new thread (threads = true), or in place."""
        kwargs = reply.kwargs()
        sent: discord.Message | None = None
        if channel.threads and isinstance(message.channel, discord.TextChannel):
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
                log.warning("Could not answer a help post in %s: %s", message.channel.id, exc)
                return
        if isinstance(message.channel, discord.Thread):  # a forum post: follow-ups go there
            self.bot.conversations.asked(message.channel.id, question)
        if reply.view is not None:
            reply.view.message = sent


async def setup(bot: QuoteBotBase) -> None:
    """Add the cog (the client loads this module as a discord.py extension)."""
    await bot.add_cog(HelpChannelsCog(bot, bot.settings.discord))
