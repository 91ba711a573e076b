"""What every part of the Discord front end shares: the allow-lists and the one error text."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.config import DiscordSettings, HelpChannel
from bot.errors import BotError

log = logging.getLogger(__name__)

GENERIC_ERROR = (
    "Sorry, something went wrong while answering. It has been logged; please try again later."
)


class Refused(BotError):
    """A question turned away before answering (cooldown); the message is for the user."""


class NotAllowed(app_commands.CheckFailure):
    """A command used where or by whom it is not allowed; the message is for the user."""


def error_message(error: BaseException) -> str:
    """The one place failures become text for people; unexpected ones are logged in full."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, BotError | NotAllowed) and str(error):
        log.info("Refused: %s", error)
        return str(error)
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use that command here."
    log.error("Unexpected error while answering", exc_info=error)
    return GENERIC_ERROR


def place_allowed(settings: DiscordSettings, guild_id: int | None, channel: object) -> bool:
    """Whether the allow-lists (and the DM setting) let the bot answer in this place."""
    if guild_id is None:
        return settings.dms
    if settings.guild_ids and guild_id not in settings.guild_ids:
        return False
    if not settings.channel_ids:
        return True
    # A thread counts as its parent channel, so answers in threads keep working.
    ids = {getattr(channel, "id", None), getattr(channel, "parent_id", None)}
    return bool(ids & set(settings.channel_ids))


def check_place(settings: DiscordSettings, interaction: discord.Interaction) -> bool:
    """Every cog's interaction_check: slash commands obey the same allow-lists as mentions."""
    if not place_allowed(settings, interaction.guild_id, interaction.channel):
        raise NotAllowed("I'm not set up to answer here.")
    return True


def can_manage(settings: DiscordSettings, interaction: discord.Interaction) -> bool:
    """Owners anywhere; in a server, members with Manage Server (/reindex, /gaps)."""
    if interaction.user.id in settings.owner_ids:
        return True
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def help_post(settings: DiscordSettings, message: discord.Message) -> HelpChannel | None:
    """The help channel in which message opens a new post (a forum thread's first message, or
    a top-level message in a help text channel); None for anything else."""
    if message.guild is None or not settings.help_channels:
        return None
    channel = message.channel
    if isinstance(channel, discord.Thread):
        # Only the message that starts a forum post shares its thread's id.
        if message.id != channel.id:
            return None
        channel_id = channel.parent_id
    elif message.type is discord.MessageType.default:
        channel_id = channel.id
    else:
        return None  # replies in a help channel are conversation, not new posts
    return next((h for h in settings.help_channels if h.id == channel_id), None)
