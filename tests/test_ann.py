"""Dense search: exact on float32/float16 storage and the usearch approximate index."""

import json

import numpy as np
import pytest

from bot.app import open_index, rebuild
from bot.config import RetrievalSettings, settings_from_dict
from bot.search.ann import (
    FLOOR,
    AnnIndex,
    approximate_search,
    build_ann,
    exact_search,
    matvec,
    range_rows,
    wants_ann,
)
from bot.search.dense import dense_scores
from bot.search.store import Index

from .conftest import write_corpus


def clustered(n: int, dim: int = 64, centres: int = 200, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres: embedding-like structure, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall_at_10(found: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(
        np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth, strict=True)])
    )


def test_exact_search_returns_the_best_rows_first():
    m = clustered(1000)
    q = m[17]
    ids, scores = exact_search(m, q, 5)
    assert ids[0] == 17
    assert np.all(np.diff(scores) <= 0)
    np.testing.assert_allclose(scores, (m @ q)[ids], rtol=1e-6)


def test_float16_storage_keeps_recall_at_10():
    m = clustered(20_000, dim=384)
    queries = clustered(50, dim=384, seed=1)
    half = m.astype(np.float16)
    truth = [exact_search(m, q, 10)[0] for q in queries]
    found = [exact_search(half, q, 10)[0] for q in queries]
    assert recall_at_10(found, truth) >= 0.99
    np.testing.assert_allclose(matvec(half, queries[0]), m @ queries[0], atol=2e-3)


def test_usearch_recall_at_10_on_20k(tmp_path):
    m = clustered(20_000, dim=64)
    queries = clustered(100, dim=64, seed=2)
    part = build_ann(m, tmp_path / "a.usearch", threads=1)  # one thread: the same graph each run
    assert part.rows == 20_000
    ann = AnnIndex(tmp_path / "a.usearch")
    truth = [exact_search(m, q, 10)[0] for q in queries]
    found = [approximate_search(m, ann, q, 10)[0] for q in queries]
    # A wiring check on synthetic clusters (harder for a graph than text embeddings); the
    # product figure (recall@10 >= 0.98 at 1M real-question vectors) is in the benchmark.
    assert recall_at_10(found, truth) >= 0.95
    many = ann.search_many(queries, 10)
    assert many.shape == (100, 10)


def test_wants_ann_by_backend_or_size():
    assert not wants_ann(10, RetrievalSettings())
    assert wants_ann(100_000, RetrievalSettings())
    assert wants_ann(10, RetrievalSettings(backend="usearch"))


@pytest.fixture
def usearch_settings(tmp_path):
    write_corpus(tmp_path / "seeds")
    return settings_from_dict(
        {
            "cache_dir": str(tmp_path / "cache"),
            "chunking": {"target_tokens": 20},
            "retrieval": {"backend": "usearch", "candidates": 4, "storage_dtype": "float16"},
        },
        tmp_path,
    )


def test_usearch_backend_is_saved_stamped_and_agrees_with_exact(usearch_settings, use_fake):
    built, _ = rebuild(usearch_settings, use_fake, progress=False)
    index = Index.load(usearch_settings.index_dir)
    assert built.ann == index.ann is not None and built.ann.library == "usearch"
    assert built.passage_vectors.dtype == np.float16  # as the saved one reads back
    manifest = json.loads((index.folder / "manifest.json").read_text())
    assert manifest["ann"]["library"] == "usearch"
    assert manifest["vector_dtype"] == "float16"
    assert index.passage_vectors.dtype == np.float16
    q = use_fake.embed(["Neil Armstrong walked on the Moon"])[0]
    lexical = index.lexical.scores("Neil Armstrong walked on the Moon")
    dense, sentence = dense_scores(index, q, usearch_settings.retrieval, lexical)
    exact_dense, exact_sentence = dense_scores(index, q, RetrievalSettings(), lexical)
    scored = dense > FLOOR
    assert 4 <= scored.sum() < len(index)
    np.testing.assert_allclose(dense[scored], exact_dense[scored], rtol=1e-6)
    np.testing.assert_allclose(sentence[scored], exact_sentence[scored], rtol=1e-6)
    loaded, _ = open_index(usearch_settings, use_fake, update=True)
    answer = loaded.answerer.ask("Who was the first person to walk on the lunar surface?")
    assert "Armstrong" in answer.results[0].quote


def test_range_rows_gathers_ranges_in_order_with_their_local_bounds():
    rows, local = range_rows(np.array([[5, 8], [0, 2], [8, 9]]))
    assert rows.tolist() == [5, 6, 7, 0, 1, 8]
    assert local.tolist() == [[0, 3], [3, 5], [5, 6]]
    rows, local = range_rows(np.zeros((0, 2), np.int64))
    assert rows.shape == (0,) and local.shape == (0, 2)
