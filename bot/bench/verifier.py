"""What the verifier costs: ask() with and without it on real SQuAD-dev passages, one question
after the other (interleaved, so both see the same machine load), and its cost per pair."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bot import app
from bot.answer.compose import Answerer
from bot.answer.verify import Verifies, load_verifier
from bot.bench.data import passage_rows
from bot.bench.stats import summary, timed
from bot.config import Settings
from bot.errors import BotError
from bot.evaluation.data import passages_as_documents
from bot.evaluation.memo import cached_index


class Counted:
    """A verifier that counts the passages it reads."""

    def __init__(self, inner: Verifies) -> None:
        self.inner = inner
        self.read = 0

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        self.read += len(passages)
        return self.inner.scores(question, passages)


def verifier_cost(
    settings: Settings, encoder: Any, data: Path, questions: list[str]
) -> dict[str, Any]:
    """Per question, ask() without and with the verifier (it reads the passages of its pool
    of verifier_pool that the answer may quote, Answerer.verify); the added milliseconds, the
    passages it read, the cost per pair (the whole pool read, divided by its size), and
    questions a second."""
    shipped = load_verifier()
    if shipped is None:
        raise BotError("No verifier model is installed (bot/models/verifier)")
    verifier = Counted(shipped)
    docs = passages_as_documents(passage_rows(data))
    index = cached_index(docs, app.make_embedder(settings), settings, progress=False)
    off = dataclasses.replace(settings.answer, verifier=False)
    plain = Answerer(index, encoder, settings.retrieval, off)
    checked = Answerer(index, encoder, settings.retrieval, settings.answer, verifier=verifier)
    for q in questions[:3]:  # warm: page cache, BM25, both ONNX sessions
        plain.ask(q)
        checked.ask(q)
    without, with_, pairs, read = [], [], [], []
    pool = settings.answer.verifier_pool
    for q in questions:
        without.append(1000 * timed(partial(plain.ask, q)))
        before = verifier.read
        with_.append(1000 * timed(partial(checked.ask, q)))
        read.append(verifier.read - before)
        texts = [index.passage_text(h.passage) for h in plain.retriever.search(q, pool)]
        pairs.append(1000 * timed(partial(shipped.scores, q, texts)) / max(len(texts), 1))
    added = [b - a for a, b in zip(without, with_, strict=True)]
    return {
        "passages": len(index),
        "pool": pool,
        "without_ms": summary(without),
        "with_ms": summary(with_),
        "added_ms": summary(added),
        "per_pair_ms": summary(pairs),
        "passages_read": summary([float(n) for n in read]),
        "passages_read_mean": statistics.mean(read),
        "questions_per_s_without": 1000 / statistics.mean(without),
        "questions_per_s_with": 1000 / statistics.mean(with_),
    }
