from dataclasses import replace

import numpy as np
import pytest

from bot.answer.batching import Batcher, ask_many
from bot.answer.compose import FOLLOW_UP_MARGIN, Answerer
from bot.answer.followup import FollowUp, depends, mixed_tokens, mixed_vector, surely_depends
from bot.config import AnswerSettings, RetrievalSettings
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index

FIRST = "Who was the first person to walk on the lunar surface?"


@pytest.fixture
def answerer(settings, fake_embedder):
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    return Answerer(index, fake_embedder, RetrievalSettings(k=3), AnswerSettings())


@pytest.mark.parametrize(
    "question",
    [
        "Where was it played?",
        "And who directed it?",
        "what about on Windows?",
        "How about 1990?",
        "And the NFC?",
        "Why?",
        "Who did he marry?",
        "What was their leader called?",
        "When did this war end?",
        "How many people lived there in 1939?",
        "What happened after that?",
    ],
)
def test_questions_that_lean_on_an_earlier_one(question):
    assert depends(question)


@pytest.mark.parametrize(
    "question",
    [
        "Who was the first person to walk on the Moon?",
        "Which NFL team won Super Bowl 50?",
        "What is it called when a colony splits?",
        "How long does it take to build a hive?",
        "How many museums are there in Warsaw?",
        "What is the name of the river that flows through Warsaw?",
        "When did Tesla say he had left Edison?",
    ],
)
def test_questions_whole_on_their_own(question):
    assert not depends(question)


def test_only_a_short_opening_or_a_bare_question_surely_depends():
    assert surely_depends("And the NFC?")
    assert surely_depends("What about on Windows?")
    assert surely_depends("How long?")
    assert not surely_depends("Where was it played?")  # may be a question of its own
    # opens like a follow-up, but asks a whole question
    assert not surely_depends("What about Luther declined as his antisemitism increased?")
    assert depends("What about Luther declined as his antisemitism increased?")


def test_follow_up_query_weighs_its_own_words_more():
    follow = FollowUp("Where was it played?", "Which team won Super Bowl 50?")
    text = follow.lexical_text()
    assert text.count("played") > text.count("Super")
    assert follow.answer_frame() == "Where was it played?"
    assert FollowUp("And the NFC?", "Which team represented the AFC?").answer_frame() == (
        "Which team represented the AFC?"
    )
    weights = follow.term_weights(["play", "super", "bowl"])
    assert weights[0] == 1.0 and weights[1] < 1.0


def test_mixed_vector_is_unit_and_leans_to_the_follow_up():
    own, context = np.eye(4, dtype=np.float32)[:2]
    mixed = mixed_vector(own, context)
    assert np.isclose(np.linalg.norm(mixed), 1.0)
    assert mixed @ own >= mixed @ context


def test_mixed_tokens_keep_a_mean_of_cosines():
    own = np.ones((2, 3), dtype=np.float32)
    context = np.ones((4, 3), dtype=np.float32)
    tokens = mixed_tokens(own, context)
    assert tokens.shape == (6, 3)
    # all-equal matches: the weighted mean is the plain one
    assert np.isclose(tokens[:, 0].mean(), 1.0)
    assert tokens[0, 0] > tokens[-1, 0]


def test_follow_up_is_answered_with_its_context(answerer, settings):
    follow = "And in what year?"
    alone = answerer.ask(follow)
    answer = answerer.ask(follow, context=FIRST)
    assert answer.question == follow  # the follow-up as asked, never the context
    assert answer.to_json()["question"] == follow
    assert answer.answered
    assert not alone.results or "1969" not in alone.results[0].quote
    top = answer.results[0]
    assert "1969" in top.quote
    original = (settings.seeds_dir / top.source).read_text(encoding="utf-8")
    assert original[top.quote_start : top.quote_end] == top.quote  # quoted verbatim
    assert FIRST not in top.quote and FIRST not in top.passage


def test_context_words_are_never_quoted_unless_a_passage_holds_them(answerer):
    context = "What does the zorblax quantum flux capacitor do?"
    answer = answerer.ask("And in what year?", context=context)
    for source in answer.results:
        assert "zorblax" not in source.quote and "capacitor" not in source.passage


def test_a_standalone_question_ignores_its_context(answerer):
    question = "How many bees can a colony hold in summer?"
    alone = answerer.ask(question)
    after = answerer.ask(question, context=FIRST)
    assert after == alone


def test_a_question_that_only_looks_like_a_follow_up_keeps_its_own_answer(answerer):
    question = "What did the worker bees turn it into?"
    assert depends(question)
    alone = answerer.ask(question)
    after = answerer.ask(question, context="Where is Mount Etna?")
    assert alone.results[0].source == "bees.md"
    assert after == alone  # read with the context it is less sure, so it is answered alone


@pytest.mark.parametrize(("surer_by", "read_with_context"), [(0.05, False), (0.2, True)])
def test_the_context_read_must_be_surer_by_a_margin(
    answerer, monkeypatch, surer_by, read_with_context
):
    # A question that may lean on an earlier one but has words of its own: the context may
    # complete it, not outvote those words on a close call (a SQuAD question asked after an
    # unrelated one lost its answer to a context read surer by 0.002).
    assert 0.05 < FOLLOW_UP_MARGIN < 0.2
    question = "What did the worker bees turn it into?"
    real = Answerer.compose

    def compose(self, q, qv, ranked, k, *, follow=None):
        answer = real(self, q, qv, ranked, k, follow=follow)
        return replace(answer, confidence=1.0 + (surer_by if follow else 0.0))

    monkeypatch.setattr(Answerer, "compose", compose)
    after = answerer.ask(question, context="Where is Mount Etna?")
    assert after.confidence == pytest.approx(1.0 + surer_by if read_with_context else 1.0)


def test_ask_many_takes_a_context_per_question(answerer):
    answers = ask_many(answerer, ["And in what year?", "And in what year?"], contexts=[FIRST, None])
    assert [a.question for a in answers] == ["And in what year?"] * 2
    assert answers[0].answered and "1969" in answers[0].results[0].quote
    assert answers[0] == answerer.ask("And in what year?", context=FIRST)
    assert answers[1] == answerer.ask("And in what year?")


async def test_batcher_passes_the_context_on(answerer):
    batcher = Batcher(answerer)
    try:
        answer = await batcher.ask("And in what year?", context=FIRST)
    finally:
        await batcher.aclose()
    assert answer.question == "And in what year?"
    assert "1969" in answer.results[0].quote
