from types import SimpleNamespace

import numpy as np
import pytest

from bot.config import RetrievalSettings
from bot.search.quantize import quantize_rows
from bot.search.retrieval import Hit, Retriever, segment_max, top_k
from bot.search.rows import TokenVectors


def test_top_k_orders_best_first_and_clamps():
    scores = np.array([0.1, 0.9, 0.3, 0.7], dtype=np.float32)
    assert top_k(scores, 2).tolist() == [1, 3]
    assert top_k(scores, 10).tolist() == [1, 3, 2, 0]
    assert top_k(scores, 0).tolist() == []


def test_segment_max_handles_overlapping_ranges_and_the_last_row():
    values = np.array([1, 5, 2, 7, 3], dtype=np.float32)
    ranges = np.array([[0, 2], [1, 3], [3, 5], [4, 5]])
    assert segment_max(values, ranges).tolist() == [5, 5, 7, 3]


def test_segment_max_of_a_matrix_is_the_max_of_each_row():
    values = np.array([[1, 5, 2, 7, 3], [9, 0, 4, 1, 8]], dtype=np.float32)
    ranges = np.array([[0, 2], [1, 3], [3, 5], [4, 5]])
    assert segment_max(values, ranges).tolist() == [[5, 5, 7, 3], [9, 4, 8, 8]]
    assert segment_max(values, ranges[:0]).shape == (2, 0)


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
    assert hits[0].lexical_score == pytest.approx(1.0)
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
    assert all(h.lexical_score == 0 for h in hits)


def _token_stub(pieces_per_passage):
    """An index stub holding token vectors, one list of unit vectors per passage.

    No rotation: the words below are rows of a Hadamard matrix, which signs and one scale
    represent exactly, so the expected MaxSim values are exact.
    """
    stub = _Stub()
    lengths = [len(p) for p in pieces_per_passage]
    ends = np.cumsum(lengths)
    rows = np.concatenate(pieces_per_passage)
    stub.params = SimpleNamespace(dim=rows.shape[1])
    rotation = np.eye(rows.shape[1], dtype=np.float32)
    bits, scales = quantize_rows(rows, rotation)
    ranges = np.stack([ends - np.array(lengths), ends], axis=1)
    stub.tokens = TokenVectors(bits, scales, ranges, rotation)
    return stub


# Four orthogonal unit "words" that 1 bit a dimension keeps exactly.
WORDS = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], np.float32) / 2


def test_rerank_lifts_the_passage_whose_pieces_match_every_question_word():
    e = WORDS
    # Passage 0 holds words 0 and 1; passage 1 holds 0, 1 and 2; passage 2 only word 3.
    stub = _token_stub([[e[0], e[1]], [e[0], e[1], e[2]], [e[3]], [e[3]]])
    retriever = Retriever(stub, None, RetrievalSettings(token_weight=0.5, rerank_depth=3))
    fused = [Hit(0, 1.0, 0, 0, 0), Hit(1, 0.9, 0, 0, 0), Hit(2, 0.8, 0, 0, 0), Hit(3, 0.1, 0, 0, 0)]
    hits = retriever.rerank(fused, e[[0, 1, 2]])  # the question has words 0, 1 and 2
    assert [h.passage for h in hits] == [1, 0, 2, 3]
    assert hits[0].token_score == pytest.approx(1.0)  # every question word found exactly
    assert hits[1].token_score == pytest.approx(2 / 3)
    assert hits[3] is fused[3]  # beyond the depth: untouched


def test_rerank_with_weight_zero_or_no_question_words_keeps_the_fused_order():
    e = WORDS
    stub = _token_stub([[e[0]], [e[1]], [e[2]]])
    fused = [Hit(0, 1.0, 0, 0, 0), Hit(1, 0.9, 0, 0, 0), Hit(2, 0.8, 0, 0, 0)]
    retriever = Retriever(stub, None, RetrievalSettings(token_weight=0.5))
    assert retriever.rerank(fused, np.zeros((0, 4), np.float32)) == fused
    weak = Retriever(stub, None, RetrievalSettings(token_weight=0.0, rerank_depth=3))
    assert [h.passage for h in weak.rerank(fused, e[[2]])] == [0, 1, 2]
