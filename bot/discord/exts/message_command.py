"""The "Ask quotebot" message command (Apps menu on any message): answers that message."""

from __future__ import annotations

import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import DiscordSettings
from bot.discord.access import asker_of
from bot.discord.checks import Refused, check_place
from bot.discord.client import QuoteBotBase
from bot.discord.exts.ask import AskCog, conversation_of

MENU_NAME = "Ask quotebot"
NO_TEXT = "That message has no text for me to answer."


class MessageCommandCog(commands.Cog):
    """Adds the message command to the tree (context menus cannot be cog methods)."""

    def __init__(self, bot: QuoteBotBase, settings: DiscordSettings) -> None:
        self.bot = bot
        self.settings = settings
        self.menu = app_commands.ContextMenu(name=MENU_NAME, callback=self.ask_message)
        bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        """Take the command off the tree with the cog."""
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def ask_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Answer the message's text as a question; privately unless configured public."""
        check_place(self.settings, interaction)
        ask = self.bot.get_cog("AskCog")
        if not isinstance(ask, AskCog):
            raise RuntimeError("the Ask cog is not loaded")
        me = self.bot.user
        text = re.sub(rf"<@!?{me.id}>", " ", message.content) if me else message.content
        if not text.strip():
            raise Refused(NO_TEXT)
        q = ask.admit(text, interaction.user.id)  # length and cooldown, as for /ask
        private = not self.settings.message_command_public
        await interaction.response.defer(ephemeral=private, thinking=True)
        # Answered from what the asker may read here (not what the message's author may).
        reply = await ask.respond(
            q,
            asker_of(interaction.user, interaction.guild, interaction.channel),
            conversation_of(interaction.channel),
        )
        sent = await interaction.followup.send(wait=True, ephemeral=private, **reply.kwargs())
        if reply.view is not None:
            reply.view.message = sent


async def setup(bot: QuoteBotBase) -> None:
    """Add the cog (the client loads this module as a discord.py extension)."""
    await bot.add_cog(MessageCommandCog(bot, bot.settings.discord))
