"""The Gaps cog: /gaps shows maintainers what the sources miss, grouped by meaning."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
from discord import app_commands
from discord.ext import commands

from bot.answer.compose import Answerer
from bot.answer.gaps import Gap, GapGroup, find_gaps, read_gaps
from bot.config import DiscordSettings
from bot.discord.access import asker_of
from bot.discord.checks import NotAllowed, Refused, can_manage, check_place
from bot.discord.client import QuoteBotBase
from bot.discord.feedback import NO_MENTIONS
from bot.discord.format import gaps_embed

GAPS_DENIED = (
    "Only members with the Manage Server permission, a gaps role, or the bot's owners can see "
    "the gaps."
)


class GapsCog(commands.Cog):
    """Declined and 👎 questions, grouped: the documentation team's to-do list."""

    def __init__(self, bot: QuoteBotBase, settings: DiscordSettings) -> None:
        self.bot = bot
        self.settings = settings

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Slash commands obey the same allow-lists as mentions."""
        return check_place(self.settings, interaction)

    def report(
        self, answerer: Answerer, since: datetime | None, shown: Callable[[Gap], bool]
    ) -> tuple[list[GapGroup], int]:
        """The grouped gaps the caller may see (shown) and how many of those were logged
        (blocking: worker thread)."""
        gaps = read_gaps(
            Path(self.settings.gaps_file), since, retention_days=self.settings.gaps_retention_days
        )
        gaps = [g for g in gaps if shown(g)]
        return find_gaps(answerer, gaps, distance=self.settings.gaps_distance), len(gaps)

    def allowed(self, interaction: discord.Interaction) -> bool:
        """Owners; in a server, members with Manage Server or one of discord.gaps_roles."""
        if can_manage(self.settings, interaction):
            return True
        member = interaction.user
        return isinstance(member, discord.Member) and self.bot.access.has_gaps_role(member)

    @app_commands.command(name="gaps")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(days="Only questions from the last this many days (default: all).")
    async def gaps(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 3650] | None = None
    ) -> None:
        """What my sources miss: declined and 👎 questions by topic (Manage Server only)."""
        if not self.allowed(interaction):
            raise NotAllowed(GAPS_DENIED)
        answerer = self.bot.answerer
        if not isinstance(answerer, Answerer):
            raise Refused("I'm still loading my sources; please try again in a minute.")
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Only questions from channels of this server the caller can read, asked where no
        # scope was readable that cannot be read here; their closest passages as asked here.
        readable = await self.bot.readable(
            asker_of(interaction.user, interaction.guild, interaction.channel)
        )
        member = interaction.user
        scoped = bool(self.bot.settings.scopes)

        def shown(gap: Gap) -> bool:
            w = gap.where
            if w is None:  # logged before places were: only while no scope exists
                return not scoped
            if w.guild is None or w.guild != interaction.guild_id:
                return False
            if not isinstance(member, discord.Member) or not self.bot.access.can_view(
                member, w.channel
            ):
                return False
            return readable is None or w.scopes is None or set(w.scopes) <= readable

        groups, total = await self.bot.run_blocking(
            self.report, answerer.for_scopes(readable), since, shown
        )
        await interaction.followup.send(
            embed=gaps_embed(groups, total), ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: QuoteBotBase) -> None:
    """Add the cog (the client loads this module as a discord.py extension)."""
    await bot.add_cog(GapsCog(bot, bot.settings.discord))
