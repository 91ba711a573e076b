"""Many questions at once: ask_many and the asyncio Batcher give what ask() gives."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.answer.batching import Batcher, ask_many
from bot.app import open_index
from bot.errors import QuestionError

QUESTIONS = [
    "Who was the first person to walk on the lunar surface?",
    "How many bees can a colony hold in summer?",
    "Which volcano is in Sicily?",
]


@pytest.fixture
def answerer(settings, use_fake):
    return open_index(settings, use_fake, update=True)[0].answerer


def test_ask_many_matches_ask_and_embeds_once(answerer, use_fake):
    use_fake.calls.clear()
    with ThreadPoolExecutor(2) as pool:
        many = ask_many(answerer, [*QUESTIONS, "   "], pool=pool)
    assert use_fake.calls == [3]  # one model call for the three valid questions
    assert len(many) == 4 and isinstance(many[3], QuestionError)
    for question, answer in zip(QUESTIONS, many[:3], strict=True):
        alone = answerer.ask(question)
        # One matrix-matrix product instead of a matrix-vector one: float32 rounding may differ.
        assert [r.quote for r in answer.results] == [r.quote for r in alone.results]
        assert answer.answered == alone.answered
        assert answer.confidence == pytest.approx(alone.confidence, abs=1e-5)


def test_batcher_answers_concurrent_callers_in_order(answerer):
    async def main():
        batcher = Batcher(answerer, max_batch=2)
        try:
            answers = await asyncio.gather(*(batcher.ask(q) for q in QUESTIONS * 3))
            with pytest.raises(QuestionError):
                await batcher.ask("")
        finally:
            await batcher.aclose()
        return answers

    answers = asyncio.run(main())
    assert [a.question for a in answers] == QUESTIONS * 3
    assert "Armstrong" in answers[0].results[0].quote
