"""Asking with some passages out of the index: unanswerable questions about the corpus's own
topics, made from answerable ones by withholding their gold passages (as in SQuAD 2.0)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import bot.search.retrieval as retrieval
from bot.answer.compose import Answer, Answerer
from bot.evaluation.data import contains_answer
from bot.search.store import Index


@contextlib.contextmanager
def passages_withheld(index: Index) -> Iterator[list[int]]:
    """While inside, the passage rows put into the yielded list take no part in retrieval:
    their dense, sentence, BM25 and phrase scores are masked before fusion, so nothing is
    scaled by them either. Set the list's contents per question (`hidden[:] = rows`)."""
    hidden: list[int] = []
    dense_scores, lexical = retrieval.dense_scores, index.lexical
    scores, phrase_scores = lexical.scores, lexical.phrase_scores

    def masked_dense(*args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        dense, sentence = dense_scores(*args, **kwargs)
        dense, sentence = dense.copy(), sentence.copy()
        dense[hidden], sentence[hidden] = -1.0, -1.0
        return dense, sentence

    def masked(score: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
        def inner(question: str) -> np.ndarray:
            out = score(question).copy()
            out[hidden] = 0.0
            return out

        return inner

    # The retriever looks these up at each question: swapped for the masked ones meanwhile.
    retrieval.dense_scores = masked_dense
    setattr(lexical, "scores", masked(scores))  # noqa: B010 (an instance, not its class)
    setattr(lexical, "phrase_scores", masked(phrase_scores))  # noqa: B010
    try:
        yield hidden
    finally:
        retrieval.dense_scores = dense_scores
        del lexical.scores, lexical.phrase_scores  # the class's own methods again


def asked_withheld(
    answerer: Answerer,
    rows: Sequence[dict[str, Any]],
    texts: Sequence[str],
    vectors: np.ndarray,
    tokens: Sequence[np.ndarray] | None,
) -> Iterator[Answer]:
    """Each question (rows[i], asked as texts[i] with its encoding) asked with its gold
    passages withheld; yielded where the answer is then in no quoted passage (an unanswerable
    question about the corpus's own topics)."""
    index = answerer.index
    passage_doc = np.asarray(index.passages.doc)
    source_of = {d.source: i for i, d in enumerate(index.documents)}
    with passages_withheld(index) as hidden:
        for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
            qt = tokens[i] if tokens is not None else None
            gold = [source_of[str(g)] for g in row["gold"]]
            hidden[:] = np.flatnonzero(np.isin(passage_doc, gold)).tolist()
            answer = answerer.ask(text, query_vector=vectors[i], query_tokens=qt)
            if answer.results and not any(
                contains_answer(r.passage, row["answers"]) for r in answer.results
            ):
                yield answer
