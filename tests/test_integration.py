"""End to end with the real bundled model on the project's seeds (marked slow: loads torch)."""

import shutil
from pathlib import Path

import pytest

from bot.answer.compose import Answerer
from bot.config import settings_from_dict
from bot.evaluation.data import contains_answer
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index
from bot.search.embedder import SentenceTransformerEmbedder
from bot.search.store import Index

pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

FACTS = [
    ("Who produced We Cry Together?", "Alchemist"),
    ("Which actress features on We Cry Together with Kendrick?", "Taylour Paige"),
    ("When was the We Cry Together visual shot?", "March 15, 2020"),
    ("How many Grammy nominations did Mr. Morale earn?", "eight"),
    ("Where did the film play before its digital release?", "single theater in Los Angeles"),
    ("Which actress discussed the track with Kendrick at the private screening?", "Tessa Thompson"),
    (
        "What does Whitney Alford say at the start of the song?",
        "This is what the world sounds like",
    ),
    ("What is written on the shirt Kendrick wears in the video?", "Dante S"),
    ("In how many takes was the visual shot?", "one take"),
    ("Which publication reported on the origins of the song?", "The Hollywood Reporter"),
    ("What is revealed at the end of the video?", "soundstage"),
    ("Which video did Kendrick release the day after the Grammy nominations?", "Rich Spirit"),
    ("Where did Kendrick perform on June 26, 2022?", "Glastonbury"),
    ("who produced we cry together", "Alchemist"),
]

OFF_TOPIC = [
    "What is the capital of France?",
    "How do I bake sourdough bread?",
    "hi, how are you?",
    "Who won the 2018 FIFA World Cup?",
    "How many moons does Jupiter have?",
    "What is Taylor Swift's best-selling album?",
    "When did Nirvana release Nevermind?",
    "How do I reset my router?",
]


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds-project")
    shutil.copytree(SEEDS, root / "seeds")
    settings = settings_from_dict({}, root)
    embedder = SentenceTransformerEmbedder(settings.model)
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, embedder, settings.chunking)
    index.save(settings.index_dir)
    index = Index.load(settings.index_dir)
    return Answerer(index, embedder, settings.retrieval, settings.answer)


@pytest.mark.parametrize(("question", "answer"), FACTS)
def test_seed_question_is_answered_with_the_answer_in_the_marked_quote(answerer, question, answer):
    result = answerer.ask(question)
    assert result.answered, f"declined (confidence {result.confidence:.2f})"
    top = result.results[0]
    assert contains_answer(top.quote, [answer]), top.quote
    assert top.quote in top.passage
    assert top.quote_sentences <= 2
    text = (SEEDS / top.source).read_text(encoding="utf-8")
    assert text[top.start : top.end] == top.passage


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_question_is_declined(answerer, question):
    result = answerer.ask(question)
    assert not result.answered, (
        f"answered with confidence {result.confidence:.2f}: {result.results[0].quote}"
    )


def test_passages_fit_the_model_window(answerer):
    embedder = answerer.retriever.embedder
    index = answerer.index
    texts = [index.lexical_text(i) for i in range(len(index))]
    assert max(embedder.count_tokens(texts)) + 2 <= embedder.max_tokens
