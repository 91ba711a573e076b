"""What the verifier costs: ask() with and without it on real SQuAD-dev passages, one question
after the other (interleaved, so both see the same machine load), and its cost per pair."""

from __future__ import annotations

import dataclasses
import statistics
from functools import partial
from pathlib import Path
from typing import Any

from bot import app
from bot.answer.compose import Answerer
from bot.answer.verify import load_verifier
from bot.bench.data import passage_rows
from bot.bench.stats import summary, timed
from bot.config import Settings
from bot.errors import BotError
from bot.evaluation.data import passages_as_documents
from bot.evaluation.memo import cached_index


def verifier_cost(
    settings: Settings, encoder: Any, data: Path, questions: list[str]
) -> dict[str, Any]:
    """Per question, ask() without and with the verifier (its pool of verifier_pool passages
    read in one call); the added milliseconds, the cost per pair, and questions a second."""
    verifier = load_verifier()
    if verifier is None:
        raise BotError("No verifier model is installed (bot/models/verifier)")
    docs = passages_as_documents(passage_rows(data))
    index = cached_index(docs, app.make_embedder(settings), settings, progress=False)
    off = dataclasses.replace(settings.answer, verifier=False)
    plain = Answerer(index, encoder, settings.retrieval, off)
    checked = Answerer(index, encoder, settings.retrieval, settings.answer, verifier=verifier)
    for q in questions[:3]:  # warm: page cache, BM25, both ONNX sessions
        plain.ask(q)
        checked.ask(q)
    without, with_, pairs = [], [], []
    pool = settings.answer.verifier_pool
    for q in questions:
        without.append(1000 * timed(partial(plain.ask, q)))
        with_.append(1000 * timed(partial(checked.ask, q)))
        texts = [index.passage_text(h.passage) for h in plain.retriever.search(q, pool)]
        pairs.append(1000 * timed(partial(verifier.scores, q, texts)) / max(len(texts), 1))
    added = [b - a for a, b in zip(without, with_, strict=True)]
    return {
        "passages": len(index),
        "pool": pool,
        "without_ms": summary(without),
        "with_ms": summary(with_),
        "added_ms": summary(added),
        "per_pair_ms": summary(pairs),
        "questions_per_s_without": 1000 / statistics.mean(without),
        "questions_per_s_with": 1000 / statistics.mean(with_),
    }
