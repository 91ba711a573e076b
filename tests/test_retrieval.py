import numpy as np
import pytest

from bot.config import RetrievalSettings
from bot.retrieval import Retriever, segment_max, top_k


def test_top_k_orders_best_first_and_clamps():
    scores = np.array([0.1, 0.9, 0.3, 0.7], dtype=np.float32)
    assert top_k(scores, 2).tolist() == [1, 3]
    assert top_k(scores, 10).tolist() == [1, 3, 2, 0]
    assert top_k(scores, 0).tolist() == []


def test_segment_max_handles_overlapping_ranges_and_the_last_row():
    values = np.array([1, 5, 2, 7, 3], dtype=np.float32)
    ranges = np.array([[0, 2], [1, 3], [3, 5], [4, 5]])
    assert segment_max(values, ranges).tolist() == [5, 5, 7, 3]


class _Stub:
    """Just enough of an index for fuse()."""


def _retriever(**weights):
    return Retriever(_Stub(), None, RetrievalSettings(candidates=10, **weights))


def test_fusion_lets_lexical_evidence_overturn_a_small_dense_lead():
    dense = np.array([0.50, 0.48, 0.10, 0.05], dtype=np.float32)
    lexical = np.array([0.0, 9.0, 1.0, 0.0], dtype=np.float32)
    hits = _retriever(
        dense_weight=0.25, sentence_weight=0.5, lexical_weight=1.0, phrase_weight=0
    ).fuse(dense, dense, lexical, 2)
    assert [h.passage for h in hits] == [1, 0]
    assert hits[0].lexical == pytest.approx(1.0)
    assert hits[0].score > hits[1].score


def test_fusion_with_lexical_weight_zero_is_dense_order():
    dense = np.array([0.2, 0.9, 0.4], dtype=np.float32)
    lexical = np.array([5.0, 0.0, 0.0], dtype=np.float32)
    hits = _retriever(dense_weight=1, sentence_weight=0, lexical_weight=0, phrase_weight=0).fuse(
        dense, dense, lexical, 3
    )
    assert [h.passage for h in hits] == [1, 2, 0]


def test_fusion_without_any_lexical_match_still_ranks():
    dense = np.array([0.1, 0.3], dtype=np.float32)
    hits = _retriever().fuse(dense, dense, np.zeros(2, np.float32), 2)
    assert [h.passage for h in hits] == [1, 0]
    assert all(h.lexical == 0 for h in hits)
