"""The question a conversation is about, so a follow-up can be read with it.

A conversation is a Discord thread the bot started, a forum post it answered, a DM channel, or
a REPL session (one conversation, key 0). Each
keeps the last question that stood alone ("Who directed Inception?"); a follow-up that leans on
it ("and when was it released?", bot.answer.followup.depends) is answered with it as context
and leaves it in place, so a second follow-up still has the film. Kept in memory only (a
restart forgets), for at most MAX_CONVERSATIONS conversations, each for TTL seconds after its
last question.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bot.answer.followup import depends

MAX_CONVERSATIONS = 10_000
TTL = 24 * 60 * 60.0


class Conversations:
    """Per conversation (a channel or thread id): the question follow-ups are read with."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        ttl: float = TTL,
        size: int = MAX_CONVERSATIONS,
    ) -> None:
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self._topics: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def context(self, conversation: int) -> str | None:
        """The question a new one in this conversation may follow up on, if any."""
        found = self._topics.get(conversation)
        if found is None:
            return None
        question, when = found
        if self.clock() - when > self.ttl:
            del self._topics[conversation]
            return None
        return question

    def asked(self, conversation: int, question: str) -> None:
        """Note a question asked in the conversation: a standalone one becomes its topic; a
        follow-up keeps the topic it leaned on (and refreshes it)."""
        topic = self.context(conversation)
        keep = topic is not None and depends(question)
        self._topics[conversation] = (topic if keep and topic else question, self.clock())
        self._topics.move_to_end(conversation)
        while len(self._topics) > self.size:
            self._topics.popitem(last=False)

    def __contains__(self, conversation: int) -> bool:
        return self.context(conversation) is not None
