"""The Gaps cog: /gaps shows maintainers what the sources miss, grouped by meaning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

from bot.answer.compose import Answerer
from bot.answer.gaps import GapGroup, find_gaps, read_gaps
from bot.config import DiscordSettings
from bot.discord.checks import NotAllowed, Refused, can_manage, check_place
from bot.discord.client import QuoteBotBase
from bot.discord.feedback import NO_MENTIONS
from bot.discord.format import gaps_embed

GAPS_DENIED = (
    "Only members with the Manage Server permission (or the bot's owners) can see the gaps."
)


class GapsCog(commands.Cog):
    """Declined and 👎 questions, grouped: the documentation team's to-do list."""

    def __init__(self, bot: QuoteBotBase, settings: DiscordSettings) -> None:
        self.bot = bot
        self.settings = settings

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Slash commands obey the same allow-lists as mentions."""
        return check_place(self.settings, interaction)

    def report(self, answerer: Answerer, since: datetime | None) -> tuple[list[GapGroup], int]:
        """The grouped gaps and how many questions were logged (blocking: worker thread)."""
        gaps = read_gaps(Path(self.settings.gaps_file), since)
        return find_gaps(answerer, gaps, distance=self.settings.gaps_distance), len(gaps)

    @app_commands.command(name="gaps")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(days="Only questions from the last this many days (default: all).")
    async def gaps(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 3650] | None = None
    ) -> None:
        """What my sources miss: declined and 👎 questions by topic (Manage Server only)."""
        if not can_manage(self.settings, interaction):
            raise NotAllowed(GAPS_DENIED)
        answerer = self.bot.answerer
        if not isinstance(answerer, Answerer):
            raise Refused("I'm still loading my sources; please try again in a minute.")
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        await interaction.response.defer(ephemeral=True, thinking=True)
        groups, total = await self.bot.run_blocking(self.report, answerer, since)
        await interaction.followup.send(
            embed=gaps_embed(groups, total), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: QuoteBotBase) -> None:
    """Add the cog (the client loads this module as a discord.py extension)."""
    await bot.add_cog(GapsCog(bot, bot.settings.discord))
