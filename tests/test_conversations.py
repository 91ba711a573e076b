"""The Discord bot's conversation memory: what a follow-up in a thread or DM is read with."""

from __future__ import annotations

from bot.answer.conversations import Conversations
from tests.discord_fakes import FakeClock


def test_a_standalone_question_becomes_the_topic_and_a_follow_up_keeps_it():
    talk = Conversations(FakeClock())
    assert talk.context(1) is None and 1 not in talk
    talk.asked(1, "Who directed Inception?")
    assert talk.context(1) == "Who directed Inception?"
    talk.asked(1, "and when was it released?")  # leans on it: the film stays the topic
    assert talk.context(1) == "Who directed Inception?"
    talk.asked(1, "What is the capital of France?")  # stands alone: a new topic
    assert talk.context(1) == "What is the capital of France?"
    assert talk.context(2) is None  # conversations are separate


def test_topics_expire_and_the_oldest_conversations_are_forgotten():
    clock = FakeClock()
    talk = Conversations(clock, ttl=60, size=2)
    talk.asked(1, "Who directed Inception?")
    clock.now += 61
    assert talk.context(1) is None
    for conversation in (1, 2, 3):
        talk.asked(conversation, f"Question {conversation} about Mount Etna?")
    assert talk.context(1) is None and talk.context(3) == "Question 3 about Mount Etna?"
