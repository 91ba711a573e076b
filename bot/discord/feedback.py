"""👍/👎 buttons under answers; each vote is appended to a JSON-lines file."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord

from bot.answer.compose import Answer
from bot.answer.gaps import DOWNVOTE, GapsLog, Where

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
# Buttons stop working after this long (and are removed from the message, when possible).
VOTE_TIMEOUT = 6 * 60 * 60.0


class FeedbackLog:
    """Appends one JSON line per vote: question, top source, vote, time; never who voted.
    A 👎 also goes to the gaps log, when there is one."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], datetime] | None = None,
        *,
        gaps: GapsLog | None = None,
    ) -> None:
        self.path = path
        self.gaps = gaps
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()  # votes are written from worker threads

    def record(self, answer: Answer, vote: str) -> dict[str, Any]:
        """The line written for a vote on answer."""
        top = answer.results[0] if answer.answered and answer.results else None
        return {
            "time": self.clock().isoformat(timespec="seconds"),
            "question": answer.question,
            "answered": answer.answered,
            "source": top.source if top else None,
            "title": top.title if top else None,
            "vote": vote,
        }

    def append(self, answer: Answer, vote: str, where: Where | None = None) -> None:
        """Write the vote as one line (blocking: call it off the event loop); a 👎 goes to the
        gaps log as asked where the question was."""
        line = json.dumps(self.record(answer, vote), ensure_ascii=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        if vote == "down" and self.gaps is not None:
            top = answer.results[0] if answer.answered and answer.results else None
            self.gaps.append(answer.question, DOWNVOTE, top.source if top else None, where=where)


class FeedbackView(discord.ui.View):
    """The two vote buttons under one answer; one vote per user per answer."""

    def __init__(
        self,
        feedback: FeedbackLog,
        answer: Answer,
        *,
        where: Where | None = None,
        timeout: float = VOTE_TIMEOUT,
    ) -> None:
        super().__init__(timeout=timeout)
        self.feedback = feedback
        self.answer = answer
        self.where = where  # where the question was asked (a 👎 is logged as from there)
        self.voters: set[int] = set()  # in memory only, never written
        self.message: discord.Message | discord.WebhookMessage | None = None

    @discord.ui.button(emoji="👍", style=discord.ButtonStyle.secondary)
    async def helpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Record a 👍."""
        await self.vote(interaction, "up")

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary)
    async def unhelpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        """Record a 👎."""
        await self.vote(interaction, "down")

    async def vote(self, interaction: discord.Interaction, vote: str) -> None:
        """Append the vote unless this user already voted on this answer, and thank them."""
        if interaction.user.id in self.voters:
            text = "You already voted on this answer."
        else:
            self.voters.add(interaction.user.id)
            await asyncio.to_thread(self.feedback.append, self.answer, vote, self.where)
            text = "Thanks for the feedback!"
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def on_timeout(self) -> None:
        """Remove the expired buttons so nobody clicks a dead one."""
        if self.message is not None:
            try:
                await self.message.edit(view=None, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException:
                log.debug("Could not remove expired vote buttons", exc_info=True)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        """Log the failure and tell the voter, privately."""
        log.error("Recording a vote failed", exc_info=error)
        send = (
            interaction.followup.send
            if interaction.response.is_done()
            else interaction.response.send_message
        )
        try:
            await send(
                "Sorry, I could not record that vote.", ephemeral=True, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException:
            log.debug("Could not report a vote failure", exc_info=True)
