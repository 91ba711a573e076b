"""The Info cog: /sources, /help and the permission-gated /reindex."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.answer.compose import Answerer
from bot.config import DiscordSettings
from bot.discord.access import asker_of
from bot.discord.checks import NotAllowed, can_manage, check_place
from bot.discord.client import QuoteBotBase
from bot.discord.feedback import NO_MENTIONS
from bot.discord.format import help_text, message_text, question_limit, sources_text

REINDEX_DENIED = (
    "Only members with the Manage Server permission (or the bot's owners) can rebuild the index."
)


class InfoCog(commands.Cog):
    """What the bot knows and how to ask it; rebuilding its index."""

    def __init__(self, bot: QuoteBotBase, settings: DiscordSettings) -> None:
        self.bot = bot
        self.settings = settings

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Slash commands obey the same allow-lists as mentions."""
        return check_place(self.settings, interaction)

    @app_commands.command(name="sources")
    async def sources(self, interaction: discord.Interaction) -> None:
        """List the documents I quote from (those that may be quoted here, to you)."""
        answerer = self.bot.answerer
        readable = await self.bot.readable(
            asker_of(interaction.user, interaction.guild, interaction.channel)
        )
        documents = answerer.index.documents if answerer else []
        if isinstance(answerer, Answerer):
            documents = [documents[i] for i in answerer.readable_documents(readable)]
        docs = [(d.title, d.source) for d in documents]
        await interaction.response.send_message(
            sources_text(docs), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(name="help")
    async def help(self, interaction: discord.Interaction) -> None:
        """How to ask me questions."""
        name = self.bot.user.display_name if self.bot.user else "quotebot"
        limit, wait = question_limit(self.bot.settings), self.settings.cooldown_seconds
        text = help_text(name, limit, wait, self.settings.help_text)
        await interaction.response.send_message(
            message_text(text), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    def can_reindex(self, interaction: discord.Interaction) -> bool:
        """Owners anywhere; in a server, members with Manage Server."""
        return can_manage(self.settings, interaction)

    @app_commands.command(name="reindex")
    @app_commands.default_permissions(manage_guild=True)
    async def reindex(self, interaction: discord.Interaction) -> None:
        """Rebuild my index from the seeds folder (Manage Server only)."""
        if not self.can_reindex(interaction):
            raise NotAllowed(REINDEX_DENIED)
        if self.bot.reindex_lock.locked():
            raise NotAllowed(
                "A rebuild is already running; I'll use the new index when it finishes."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self.bot.reindex()
        await interaction.followup.send(
            message_text(summary), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: QuoteBotBase) -> None:
    """Add the cog (the client loads this module as a discord.py extension)."""
    await bot.add_cog(InfoCog(bot, bot.settings.discord))
