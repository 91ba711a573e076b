"""The stored index: save and load round trip, named rows, damage and missing indexes."""

import json
from pathlib import Path

import numpy as np
import pytest

from bot.config import ChunkingSettings
from bot.errors import IndexCorruptError, IndexMissingError
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index
from bot.search.quantize import dequantize_rows, fixed_rotation
from bot.search.store import FORMAT_VERSION, Index

from .conftest import FakeEmbedder
from .test_build import build


def test_build_save_load_round_trip(settings, fake_embedder):
    index, report = build(settings.seeds_dir, fake_embedder)
    assert sorted(report.embedded_documents) == ["apollo.txt", "bees.md", "nested/volcano.txt"]
    index.save(settings.index_dir)
    loaded = Index.load(settings.index_dir)
    assert len(loaded) == len(index) > 3
    np.testing.assert_array_equal(loaded.passage_vectors, index.passage_vectors)
    assert loaded.passage_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(loaded.passage_vectors, axis=1), 1.0, rtol=1e-5)
    for i in range(len(loaded)):
        doc = loaded.passage_document(i)
        assert loaded.passage_text(i) in doc.text
        assert all(
            loaded.sentence_text(j) in loaded.passage_text(i) for j in loaded.sentence_ids(i)
        )
    folder = settings.index_dir / (settings.index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == "fake-embedder"
    assert manifest["dim"] == 64
    assert manifest["format_version"] == FORMAT_VERSION
    # Every word piece of every passage, in passage order, as packed signs (1 bit a dimension)
    # with float16 scales, under the index's fixed rotation.
    assert manifest["token_vectors"] is True
    tokens = loaded.tokens
    assert tokens.ranges.shape == (len(loaded), 2)
    assert tokens.bits.dtype == np.uint8
    assert tokens.bits.shape[1] == 64 // 8
    assert tokens.scales.shape == (len(tokens),)
    assert tokens.scales.dtype == np.float16
    assert int(tokens.ranges[-1, 1]) == len(tokens)
    np.testing.assert_array_equal(tokens.rotation, fixed_rotation(64))
    decoded = dequantize_rows((tokens.bits, tokens.scales), tokens.rotation)
    # scale * signs of a unit row has norm sqrt(dim) / |y|_1: at least 1, ~1.25 when spread out.
    norms = np.linalg.norm(decoded, axis=1)
    assert (norms >= 0.999).all() and (norms < 2).all()
    np.testing.assert_array_equal(tokens.ranges[1:, 0], tokens.ranges[:-1, 1])
    np.testing.assert_array_equal(tokens.bits, index.tokens.bits)
    assert {d["source"]: len(d["sha256"]) for d in manifest["documents"]} == {
        "apollo.txt": 64,
        "bees.md": 64,
        "nested/volcano.txt": 64,
    }


def test_token_vectors_take_dim_over_8_plus_2_bytes_on_disk(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    folder = settings.index_dir / (settings.index_dir / "CURRENT").read_text().strip()
    t = len(index.tokens)
    assert t > 50
    files = [folder / f"token_{name}.npy" for name in ("vectors", "scales")]
    # Each file's bytes past its .npy header (where the memory map of its rows starts).
    stored = sum(f.stat().st_size - np.load(f, mmap_mode="r").offset for f in files)
    assert stored == t * (64 // 8 + 2)  # 1 bit a dimension and a float16 scale


def test_an_index_without_token_vectors_loads_and_searches(settings):
    from bot.config import RetrievalSettings
    from bot.search.retrieval import Retriever

    chunking = ChunkingSettings(target_tokens=20, token_vectors=False)
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, FakeEmbedder(), chunking)
    assert index.params.token_vectors is False and len(index.tokens) == 0
    index.save(settings.index_dir)
    loaded = Index.load(settings.index_dir)
    retriever = Retriever(loaded, FakeEmbedder(), RetrievalSettings())
    assert not retriever.uses_tokens
    hits = retriever.search("Who walked on the lunar surface?", 2)
    assert "Armstrong" in loaded.passage_text(hits[0].passage)


def test_missing_index_is_named(tmp_path):
    with pytest.raises(IndexMissingError, match="python -m bot index"):
        Index.load(tmp_path / "nothing")


def _live_folder(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def test_truncated_npy_is_reported_as_corrupt(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    path = _live_folder(settings.index_dir) / "passage_vectors.npy"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(IndexCorruptError, match="damaged"):
        Index.load(settings.index_dir)


def test_garbage_manifest_is_reported_as_corrupt(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    (_live_folder(settings.index_dir) / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        Index.load(settings.index_dir)


def test_interrupted_save_leaves_previous_index_usable(settings, fake_embedder, monkeypatch):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    before = len(Index.load(settings.index_dir))

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.search.lexical.LexicalIndex.save", boom)
    (settings.seeds_dir / "apollo.txt").write_text("Only one sentence now.", encoding="utf-8")
    changed, _ = build(settings.seeds_dir, fake_embedder, previous=index)
    with pytest.raises(KeyboardInterrupt):
        changed.save(settings.index_dir)
    assert len(Index.load(settings.index_dir)) == before
    assert not [p for p in settings.index_dir.iterdir() if p.name.startswith(".tmp-")]


def test_save_replaces_old_versions(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    index.save(settings.index_dir)
    versions = [p for p in settings.index_dir.iterdir() if p.is_dir()]
    assert len(versions) == 1
