"""SQuAD training pairs (training/squad_pairs.py): the answer's own passage with its answer
taken out is a negative on the question's very topic."""

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from bot.evaluation.data import passages_as_documents
from bot.search.build import build_index

ROOT = Path(__file__).resolve().parent.parent
TEXT = (
    "The tower was finished in 1889 for the fair. It is made of wrought iron. "
    "Its designer was Gustave Eiffel. Visitors climb it every day."
)


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "training" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def test_the_answer_removed_passage_keeps_the_topic_without_the_answer(settings, fake_embedder):
    squad_pairs = load("squad_pairs")
    docs = passages_as_documents([{"id": "p1", "title": "Tower", "text": TEXT}])
    chunking = dataclasses.replace(settings.chunking, target_tokens=200)  # one passage
    index, _ = build_index(docs, fake_embedder, chunking)
    [passage] = range(len(index))
    rest = squad_pairs.answer_removed(index, passage, ["Gustave Eiffel"])
    assert rest is not None and "Eiffel" not in rest and "designer" not in rest
    assert "wrought iron" in rest and "Visitors climb it every day." in rest
    # No sentence holds the answer: no such negative; nor when under two sentences remain.
    assert squad_pairs.answer_removed(index, passage, ["Paris"]) is None
    assert squad_pairs.answer_removed(index, passage, ["1889", "iron", "Eiffel"]) is None


def test_answer_removed_pairs_are_reported_apart_from_passages():
    train_verifier = load("train_verifier")
    assert train_verifier.family("answer_removed") == "removed"
    assert train_verifier.family("hard_negative") == "passage"
    assert train_verifier.family("sentence_negative") == "sentence"
