"""The lexical side of retrieval: BM25 (bm25s) over stemmed, stop-worded text."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import cache, lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np


@cache
def _bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG at import; its chatter is not for our users.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern


@cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def is_stopword(word: str) -> bool:
    """Whether a lower-cased word is an English stop word (the list BM25 leaves out)."""
    return word in _stopwords()


def _tokens(text: str) -> tuple[str, ...]:
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop]
    return tuple(_stemmer().stemWords(words)) if words else ()


# Questions and quote candidates repeat.
_terms = lru_cache(maxsize=65536)(_tokens)


def terms(text: str) -> list[str]:
    """The stemmed content terms of one text, in order: lower-cased, English stop words out.

    One tokenizer for indexing and querying, so both sides see the same vocabulary. Cached:
    sentences are tokenized again each time they are candidates for a quote.
    """
    return list(_terms(text))


# Indexing has a cache of its own, so a large corpus does not flush the questions' one: a
# live update indexes every passage again, and those it did not change are tokenized once.
_indexed_terms = lru_cache(maxsize=16384)(_tokens)


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """terms() of each text, for indexing."""
    return [list(_indexed_terms(t)) for t in texts]


def pairs(words: Sequence[str]) -> list[str]:
    """Adjacent pairs of content words (stemmed, stop words dropped): phrase evidence for BM25.

    Pairs such as "the video" would match everywhere; pairs of content words ("short film",
    "grammy nomin") are what a question copies from the sentence that answers it.
    """
    return [f"{a} {b}" for a, b in pairwise(words)]


# A capitalised word that does not start the question or a sentence: most likely a name.
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'’\-]*")
# Below this Zipf frequency (wordfreq: 3 = once per million words) a word is rare in English:
# a technical term or a name ("tuple", "urlopen", "arm64"), not a paraphrase ("react").
RARE_ZIPF = 3.5


def _zipf(word: str) -> float:
    """word's Zipf frequency in English. The small list (words above Zipf 3) is enough for
    RARE_ZIPF and loads in a third of the time of the large one."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en", wordlist="small"))


def _near(stem: str, candidates: Sequence[str]) -> bool:
    """Whether a stem is a likely misspelling of one of candidates: within one edit
    (Damerau-Levenshtein: a transposition is one) for stems of up to 5 letters, two beyond."""
    from rapidfuzz import process
    from rapidfuzz.distance import DamerauLevenshtein

    limit = 1 if len(stem) <= 5 else 2
    return (
        process.extractOne(stem, candidates, scorer=DamerauLevenshtein.distance, score_cutoff=limit)
        is not None
    )


class LexicalIndex:
    """BM25 over passages, on stemmed words and on word pairs; scores every passage for a query."""

    def __init__(
        self,
        retriever: Any,
        size: int,
        phrases: Any = None,
        *,
        lengths: np.ndarray | None = None,
        phrase_lengths: np.ndarray | None = None,
    ) -> None:
        self._bm25 = retriever
        self._phrases = phrases
        self.size = size
        # Each passage's length as BM25 counted it (terms; word pairs), which its length
        # normalisation needs to score the passages as if others were not there (restricted).
        # None for an index saved before they were kept (its next update writes them).
        self.lengths = lengths
        self.phrase_lengths = phrase_lengths

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Index texts (one per passage)."""
        bm25s = _bm25s()
        words = tokenize(texts)  # once: the word pairs come from the same tokens
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        # bm25s cannot index an empty document; a passage of stop words only gets a placeholder.
        passages = [t or ["<none>"] for t in words]
        retriever.index(passages, show_progress=False)
        phrases = bm25s.BM25(k1=1.2, b=0.75)
        # Likewise for passages of one content word, which have no pairs.
        phrased = [pairs(t) or ["<none>"] for t in words]
        phrases.index(phrased, show_progress=False)
        return cls(
            retriever,
            len(texts),
            phrases,
            lengths=np.array([len(t) for t in passages], dtype=np.int32),
            phrase_lengths=np.array([len(t) for t in phrased], dtype=np.int32),
        )

    def save(self, folder: Path) -> None:
        """Write the BM25 matrices, vocabularies and passage lengths into folder."""
        self._bm25.save(str(folder))
        if self.lengths is not None:
            np.save(folder / LENGTHS, self.lengths)
        if self._phrases is not None:
            self._phrases.save(str(folder / "phrases"))
            if self.phrase_lengths is not None:
                np.save(folder / "phrases" / LENGTHS, self.phrase_lengths)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        """Read an index written by save()."""
        bm25s = _bm25s()
        phrases = (
            bm25s.BM25.load(str(folder / "phrases"), mmap=False)
            if (folder / "phrases").exists()
            else None
        )
        return cls(
            bm25s.BM25.load(str(folder), mmap=False),
            size,
            phrases,
            lengths=_load_lengths(folder / LENGTHS, size),
            phrase_lengths=_load_lengths(folder / "phrases" / LENGTHS, size),
        )

    def phrase_scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage over the query's word pairs (zeros when none match)."""
        asked = pairs(_terms(query))
        if not asked or self.size == 0 or self._phrases is None:
            return np.zeros(self.size, dtype=np.float32)
        known = [p for p in asked if p in self._phrases.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._phrases.get_scores(known), dtype=np.float32)

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

    def unknown_names(self, question: str) -> list[str]:
        """Capitalised words of question (names, titles) that no passage of the corpus contains."""
        return [
            m.group(0)
            for m in _NAME.finditer(question.strip())
            if not all(self.knows(t) for t in terms(m.group(0)))
        ]

    def knows(self, stem: str) -> bool:
        """Whether some passage holds the stem."""
        return stem in self._bm25.vocab_dict

    def unknown_terms(self, question: str) -> list[str]:
        """Words of question the sources never use, which are rare in English and are not
        a misspelling of a word they do use: a question that hinges on one ("What is the
        difference between a list and a tuple?" over pip's docs) asks about something they do
        not cover. Common words the corpus lacks are paraphrases, not a sign ("react")."""
        stop = _stopwords()
        found = []
        for word in dict.fromkeys(_TOKEN.findall(question.lower())):
            if word in stop or not any(c.isalpha() for c in word):  # "1970", "____"
                continue
            stem = _stemmer().stemWord(word)
            if self.knows(stem) or _zipf(word) >= RARE_ZIPF:
                continue
            if len(stem) >= 4 and _near(stem, self._terms_of_length(len(stem))):
                continue  # a misspelling of a word the corpus uses
            found.append(word)
        return found

    def passage_share(self, word: str) -> float:
        """The share of passages holding word (its most frequent stem): above a few percent
        it is the corpus's subject ("Python" in pip's docs), not a detail of one passage."""
        vocab = self._bm25.vocab_dict
        df = self._doc_freq()
        counts = [int(df[vocab[t]]) for t in terms(word) if t in vocab]
        return max(counts, default=0) / max(self.size, 1)

    def _terms_of_length(self, n: int) -> list[str]:
        """The corpus's stems of n-2 to n+2 characters (the candidates for a misspelling)."""
        if not hasattr(self, "_by_length"):
            by_length: dict[int, list[str]] = {}
            for t in self._bm25.vocab_dict:
                if self.knows(t):
                    by_length.setdefault(len(t), []).append(t)
            self._by_length = by_length
        return [t for k in range(n - 2, n + 3) for t in self._by_length.get(k, ())]

    def _doc_freq(self) -> np.ndarray:
        if not hasattr(self, "_df"):
            indptr = np.asarray(self._bm25.scores["indptr"])
            self._df = np.diff(indptr)
        return self._df

    def restricted(self, allowed: np.ndarray) -> LexicalIndex:
        """This index as if it held only the passages allowed marks (one bool per passage):
        scores, idf, the vocabulary and the shares of passages count those passages alone, so
        a passage kept from an asker cannot change what the asker gets (see RestrictedLexical)."""
        return RestrictedLexical(self, allowed)


LENGTHS = "lengths.npy"


def _load_lengths(path: Path, size: int) -> np.ndarray | None:
    """Passage lengths saved beside a BM25 index, or None (saved before they were kept)."""
    try:
        lengths = np.load(path)
    except (OSError, ValueError):  # missing, or unreadable: restrict the idf alone
        return None
    return lengths if lengths.shape == (size,) else None


def _lucene_idf(df: np.ndarray | float, n: int) -> np.ndarray:
    """BM25's idf as bm25s computes it (method "lucene")."""
    return np.asarray(np.log(1 + (n - df + 0.5) / (df + 0.5)))


class RestrictedLexical(LexicalIndex):
    """A LexicalIndex seen through a passage mask (the scopes an asker may read).

    bm25s stores each (term, passage) score with the whole corpus folded in twice: the term's
    idf, and the length normalisation by the average passage length. Here both are taken over
    the allowed passages: each stored score is unfolded to the term's count in its passage
    (exact: counts are whole numbers) and scored again, so document frequencies, which terms
    exist at all, the scores' scale and the shares behind the "corpus subject" test are those
    of an index of the allowed passages alone. Kept passages score -1, below any real score.
    (An index saved before passage lengths were kept has its idf restricted, not its length
    normalisation, until its next update.)
    """

    def __init__(self, base: LexicalIndex, allowed: np.ndarray) -> None:
        super().__init__(
            base._bm25,
            base.size,
            base._phrases,
            lengths=base.lengths,
            phrase_lengths=base.phrase_lengths,
        )
        self.allowed = np.asarray(allowed, dtype=bool)
        self.n_allowed = int(self.allowed.sum())
        self._df, self._data = self._restrict(self._bm25, self.lengths)
        self._phrase_df: np.ndarray | None = None
        self._phrase_data: np.ndarray | None = None
        if self._phrases is not None:
            self._phrase_df, self._phrase_data = self._restrict(self._phrases, self.phrase_lengths)

    def _restrict(self, bm25: Any, lengths: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per term, how many allowed passages hold it; and bm25's stored (term, passage)
        scores as an index of the allowed passages would hold them (0 for a kept passage).
        Lucene's BM25: idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl)); tf is recovered
        from the stored score, dl and avgdl are lengths'."""
        data = np.asarray(bm25.scores["data"], dtype=np.float64)
        indices = np.asarray(bm25.scores["indices"])
        indptr = np.asarray(bm25.scores["indptr"])
        term_of = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        kept = ~self.allowed[indices]
        df = np.bincount(term_of[~kept], minlength=len(indptr) - 1)
        idf_all = _lucene_idf(np.diff(indptr), self.size)[term_of]
        idf = _lucene_idf(df, max(self.n_allowed, 1))[term_of]
        if lengths is None or self.n_allowed == 0:
            out = data * (idf / idf_all)
        else:
            k1, b = float(bm25.k1), float(bm25.b)
            dl = lengths[indices].astype(np.float64)
            norm_all = k1 * (1 - b + b * dl / lengths.mean())
            norm = k1 * (1 - b + b * dl / lengths[self.allowed].mean())
            part = np.minimum(data / idf_all, 1 - 1e-6)  # tf / (tf + norm_all), below 1
            tf = np.maximum(np.rint(part * norm_all / (1 - part)), 1.0)
            out = idf * tf / (tf + norm)
        out[kept] = 0.0
        return df, out.astype(np.float32)

    def knows(self, stem: str) -> bool:
        """Whether some allowed passage holds the stem."""
        i = self._bm25.vocab_dict.get(stem)
        return i is not None and bool(self._df[i] > 0)

    def _scores(
        self, bm25: Any, data: np.ndarray, df: np.ndarray, tokens: Sequence[str]
    ) -> np.ndarray:
        out = np.zeros(self.size, dtype=np.float32)
        indices = np.asarray(bm25.scores["indices"])
        indptr = np.asarray(bm25.scores["indptr"])
        for token in tokens:
            i = bm25.vocab_dict.get(token)
            if i is None or df[i] == 0:
                continue
            lo, hi = int(indptr[i]), int(indptr[i + 1])
            # A term's passages are distinct, so one fancy-indexed add is exact.
            out[indices[lo:hi]] += data[lo:hi]
        out[~self.allowed] = -1.0
        return out

    def scores(self, query: str) -> np.ndarray:
        """BM25 of every passage for query over the allowed passages; kept ones score -1."""
        return self._scores(self._bm25, self._data, self._df, terms(query))

    def phrase_scores(self, query: str) -> np.ndarray:
        """BM25 over the query's word pairs, over the allowed passages; kept ones score -1."""
        asked = pairs(_terms(query))
        if not asked or self._phrases is None or self._phrase_df is None:
            out = np.zeros(self.size, dtype=np.float32)
            out[~self.allowed] = -1.0
            return out
        assert self._phrase_data is not None
        return self._scores(self._phrases, self._phrase_data, self._phrase_df, asked)

    def idf(self, tokens: Sequence[str]) -> np.ndarray:
        """idf over the allowed passages (an unknown token: the highest, as in LexicalIndex)."""
        vocab = self._bm25.vocab_dict
        counts = np.array([self._df[vocab[t]] if t in vocab else 0 for t in tokens], np.float64)
        return _lucene_idf(counts, max(self.n_allowed, 1)).astype(np.float32)

    def passage_share(self, word: str) -> float:
        """The share of allowed passages holding word (its most frequent stem)."""
        vocab = self._bm25.vocab_dict
        counts = [int(self._df[vocab[t]]) for t in terms(word) if t in vocab]
        return max(counts, default=0) / max(self.n_allowed, 1)
