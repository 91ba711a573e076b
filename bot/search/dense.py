"""Dense scores of an index's passages for a question: exact, or from the approximate graph.

The approximate path never fakes a score: it takes the ANN's candidates plus the lexical ones
and scores exactly those rows of the matrix; every other passage gets FLOOR, below any cosine.
"""

from __future__ import annotations

import logging
from weakref import WeakKeyDictionary, WeakSet

import numpy as np

from bot.config import RetrievalSettings
from bot.search.ann import FLOOR, AnnIndex, matvec, range_rows, segment_max, top_k, wants_ann
from bot.search.store import Index

log = logging.getLogger(__name__)


# Per Index (and gone with it): its opened ANN, and whether the missing ANN was reported.
_OPENED: WeakKeyDictionary[Index, AnnIndex] = WeakKeyDictionary()
_WARNED: WeakSet[Index] = WeakSet()


def ann_for(index: Index, settings: RetrievalSettings) -> AnnIndex | None:
    """The index's saved ANN if the settings want one (opened once per Index), else None."""
    if not wants_ann(len(index), settings):
        return None
    cached = _OPENED.get(index)
    if cached is not None:
        return cached
    if index.ann is None or index.folder is None:
        if len(index) and index not in _WARNED:
            _WARNED.add(index)
            log.warning(
                "No approximate index saved with this index; searching exactly. Rebuild it "
                "with: python -m bot index --rebuild"
            )
        return None
    ann = AnnIndex(index.folder / index.ann.file)
    if len(ann) != len(index):
        log.warning(
            "The approximate index has %d rows, the index %d; searching exactly.",
            len(ann),
            len(index),
        )
        return None
    _OPENED[index] = ann
    return ann


class Prescored(np.ndarray):
    """A query vector carrying its (dense, sentence) scores, computed for a whole batch at once.

    ask_many hands these to Answerer.ask as query_vector, so one matrix-matrix product serves
    a batch instead of one matrix pass per question; dense_scores uses the scores it carries.
    """

    scores: tuple[np.ndarray, np.ndarray] | None = None


def prescore(index: Index, queries: np.ndarray, settings: RetrievalSettings) -> list[np.ndarray]:
    """Query vectors with exact scores attached (plain vectors when the ANN path is in use)."""
    if ann_for(index, settings) is not None or not len(index):
        return list(queries)
    q = np.ascontiguousarray(queries, dtype=np.float32)
    # q @ E.T gives one C-contiguous row of scores per question, with no transposed copy.
    dense = q @ np.asarray(index.passage_vectors, dtype=np.float32).T
    if index.sentence_vectors.shape[0]:
        sent = q @ np.asarray(index.sentence_vectors, dtype=np.float32).T
        ranges = np.asarray(index.passages.sentence_ranges)
        sentence = np.ascontiguousarray(segment_max(sent, ranges))
    else:
        sentence = dense
    out = []
    for j in range(len(q)):
        v = q[j].view(Prescored)
        v.scores = (dense[j], sentence[j])
        out.append(v)
    return out


# With a scope mask on the approximate path: up to this many allowed passages are scored
# exactly (a scope of a few documents is one small matrix product); beyond, the ANN is asked
# for as many more neighbours as the mask keeps out.
SCOPED_EXACT_ROWS = 100_000


def dense_scores(
    index: Index,
    q: np.ndarray,
    settings: RetrievalSettings,
    lexical: np.ndarray,
    *,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Passage cosine and best-sentence cosine for q, one float32 score per passage.

    Exact: every passage is scored. Approximate: only the ANN's and BM25's candidates are
    (exactly, from the matrix); the rest hold FLOOR so they never enter the fused pool. With
    allowed (one bool per passage), the approximate path draws its candidates among the
    allowed passages only; the caller masks the others.
    """
    carried: tuple[np.ndarray, np.ndarray] | None = getattr(q, "scores", None)
    if carried is not None:
        return carried
    ann = ann_for(index, settings)
    sent_vectors = index.sentence_vectors
    if ann is None:
        dense = matvec(index.passage_vectors, q)
        if sent_vectors.shape[0]:
            ranges = np.asarray(index.passages.sentence_ranges)
            return dense, segment_max(matvec(sent_vectors, q), ranges)
        return dense, dense
    n, c = len(index), min(settings.candidates, len(index))
    if allowed is None:
        # BM25's top c go in even when all zero: fuse() draws them into its pool either way.
        cand = np.union1d(ann.search(q, c), top_k(lexical, c))
    else:
        kept = np.flatnonzero(allowed)
        if kept.size <= SCOPED_EXACT_ROWS:
            cand = kept
        else:
            wider = min(n, int(np.ceil(c * n / kept.size)))
            cand = np.union1d(ann.search(q, wider), top_k(lexical, c))
    cand = cand[(cand >= 0) & (cand < n)]
    if allowed is not None:
        cand = cand[allowed[cand]]
    dense = np.full(n, FLOOR, dtype=np.float32)
    dense[cand] = matvec(np.asarray(index.passage_vectors[cand]), q)
    if not sent_vectors.shape[0]:
        return dense, dense
    sentence = np.full(n, FLOOR, dtype=np.float32)
    rows, local = range_rows(index.passages.sentence_ranges[cand])
    sentence[cand] = segment_max(matvec(np.asarray(sent_vectors[rows]), q), local)
    return dense, sentence
