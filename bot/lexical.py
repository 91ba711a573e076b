"""The lexical side of retrieval: BM25 (bm25s) over stemmed, stop-worded text."""

from __future__ import annotations

from collections.abc import Sequence
import logging
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np


@cache
def _bm25s() -> Any:
    import bm25s  # noqa: PLC0415 - imported on first lexical use

    # bm25s sets its own logger to DEBUG at import; its chatter is not for our users.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@cache
def _stemmer() -> Any:
    import Stemmer  # noqa: PLC0415 - C extension, cheap, but only needed for lexical work

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> Any:
    """bm25s tokens (ids + vocab) for texts: lower-cased, English stop words out, stemmed."""
    return _bm25s().tokenize(list(texts), stopwords="en", stemmer=_stemmer(), show_progress=False)


def terms(text: str) -> list[str]:
    """The stemmed content terms of one text, in order, as BM25 sees them."""
    out = _bm25s().tokenize([text], stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=False)
    return list(out[0]) if out else []


class LexicalIndex:
    """BM25 over passages; scores every passage for a query."""

    def __init__(self, retriever: Any, size: int) -> None:
        self._bm25 = retriever
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Index texts (one per passage)."""
        retriever = _bm25s().BM25(k1=1.2, b=0.75)
        retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        """Write the BM25 matrices and vocabulary into folder."""
        self._bm25.save(str(folder))

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        """Read an index written by save()."""
        return cls(_bm25s().BM25.load(str(folder), mmap=False), size)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for query (zeros when no query term is known)."""
        tokens = terms(query)
        if not tokens or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def idf(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 inverse document frequency of each stemmed token.

        A token the corpus never uses gets the highest idf: it is the rarest word there is,
        and a question that hinges on it is not about these sources.
        """
        vocab = self._bm25.vocab_dict
        n = max(self.size, 1)
        df = self._doc_freq()
        counts = np.array([df[vocab[t]] if t in vocab else 0 for t in tokens], dtype=np.float64)
        return np.log(1 + (n - counts + 0.5) / (counts + 0.5)).astype(np.float32)

    def _doc_freq(self) -> np.ndarray:
        if not hasattr(self, "_df"):
            indptr = np.asarray(self._bm25.scores["indptr"])
            self._df = np.diff(indptr)
        return self._df
