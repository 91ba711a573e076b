"""Hybrid retrieval: dense passage and sentence cosine plus BM25, fused by weighted scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.ann import dense_scores
from bot.config import RetrievalSettings
from bot.embedder import Embedder
from bot.index import Index


@dataclass(frozen=True)
class Hit:
    """One retrieved passage and the evidence behind its rank."""

    passage: int
    score: float
    dense: float
    sentence: float
    lexical: float
    phrase: float = 0.0


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (argpartition, then sort the k)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(scores.shape[0])
    return part[np.argsort(-scores[part], kind="stable")]


def segment_max(values: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Max of values over each [lo, hi) row of ranges (ranges may overlap; none is empty)."""
    if ranges.shape[0] == 0:
        return np.zeros(0, dtype=values.dtype)
    padded = np.append(values, values.dtype.type(0))
    bounds = np.asarray(ranges, dtype=np.int64).reshape(-1)
    return np.maximum.reduceat(padded, bounds)[::2]


def _unit_scale(x: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Map scores so the pool's best is 1 and its median 0 (query-relative, corpus-free)."""
    hi = float(pool.max())
    mid = float(np.median(pool))
    return (x - mid) / max(hi - mid, 1e-6)


def _max_scale(x: np.ndarray) -> np.ndarray:
    """Divide non-negative scores by their maximum (all zeros stay zeros)."""
    hi = float(x.max()) if x.size else 0.0
    return (x / hi).astype(np.float32) if hi > 0 else np.zeros_like(x, dtype=np.float32)


class Retriever:
    """Scores passages of an index for a question with dense and lexical evidence."""

    def __init__(self, index: Index, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings

    def embed_query(self, question: str) -> np.ndarray:
        """Unit vector of the question."""
        return self.embedder.embed([question])[0]

    def search(
        self, question: str, k: int | None = None, *, query_vector: np.ndarray | None = None
    ) -> list[Hit]:
        """The k best passages for question, best first."""
        k = k or self.settings.k
        n = len(self.index)
        if n == 0:
            return []
        q = self.embed_query(question) if query_vector is None else query_vector
        lexical = self.index.lexical.scores(question)
        # Exact (memory-mapped matrix) or approximate (usearch) by settings; see bot/ann.py.
        dense, sentence = dense_scores(self.index, q, self.settings, lexical)
        phrase = (
            self.index.lexical.phrase_scores(question) if self.settings.phrase_weight > 0 else None
        )
        return self.fuse(dense, sentence, lexical, k, phrase=phrase)

    def fuse(
        self,
        dense: np.ndarray,
        sentence: np.ndarray,
        lexical: np.ndarray,
        k: int,
        *,
        phrase: np.ndarray | None = None,
    ) -> list[Hit]:
        """Combine the score vectors over candidates from each; return the top k.

        Dense scores are scaled per query so the pool's best is 1 and its median 0; BM25
        scores are divided by the query's best. Each is then weighted (RetrievalSettings).
        """
        s = self.settings
        c = min(s.candidates, dense.shape[0])
        pool = np.unique(np.concatenate([top_k(dense, c), top_k(sentence, c), top_k(lexical, c)]))
        lex = _max_scale(lexical[pool])
        phr = (
            _max_scale(phrase[pool]) if phrase is not None else np.zeros(pool.shape[0], np.float32)
        )
        fused = (
            s.dense_weight * _unit_scale(dense[pool], dense[pool])
            + s.sentence_weight * _unit_scale(sentence[pool], sentence[pool])
            + s.lexical_weight * lex
            + s.phrase_weight * phr
        )
        order = top_k(np.asarray(fused, dtype=np.float32), k)
        return [
            Hit(
                int(pool[i]),
                float(fused[i]),
                float(dense[pool[i]]),
                float(sentence[pool[i]]),
                float(lex[i]),
                float(phr[i]),
            )
            for i in order
        ]
