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
    versions = [p for p in settings.index_dir.iterdir() if p.name.startswith("v-")]
    assert len(versions) == 1


def test_sentence_vectors_are_stored_as_int8_and_answer_as_saved(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    built = np.array(index.sentence_vectors)
    folder = index.save(settings.index_dir)
    codes = np.load(folder / "sentence_vectors.npy")
    assert codes.dtype == np.int8 and codes.shape == built.shape
    assert np.load(folder / "sentence_scales.npy").shape == (built.shape[0],)
    assert json.loads((folder / "manifest.json").read_text())["sentence_vector_dtype"] == "int8"
    # The saved index's own vectors are the stored ones: it answers as the loaded one will.
    loaded = Index.load(settings.index_dir)
    assert loaded.sentence_vectors.dtype == np.float32
    np.testing.assert_array_equal(loaded.sentence_vectors, index.sentence_vectors)
    np.testing.assert_allclose(loaded.sentence_vectors, built, atol=0.01)
    assert not np.array_equal(loaded.sentence_vectors, built)  # quantized, not float32


def test_mismatched_sentence_scales_are_damage(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    folder = index.save(settings.index_dir)
    np.save(folder / "sentence_scales.npy", np.ones(2, np.float32))
    with pytest.raises(IndexCorruptError, match="sentence_scales"):
        Index.load(settings.index_dir)


def test_shared_files_live_once_beside_the_versions(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    first = index.save(settings.index_dir)
    second = index.save(settings.index_dir)
    shared = settings.index_dir / "shared"
    assert [p.name for p in shared.iterdir()] == [f"rotation-{_rotation_hash(64)}.npy"]
    assert not (second / "token_rotation.npy").exists() and not first.exists()
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["token_rotation"] == f"../shared/rotation-{_rotation_hash(64)}.npy"
    np.testing.assert_array_equal(
        Index.load(settings.index_dir).tokens.rotation, fixed_rotation(64)
    )
    # A file no version names any more goes with the last version that named it.
    other, _ = build(settings.seeds_dir, FakeEmbedder(dim=32))
    other.save(settings.index_dir)
    assert [p.name for p in shared.iterdir()] == [f"rotation-{_rotation_hash(32)}.npy"]


def _rotation_hash(dim):
    import hashlib

    return hashlib.sha256(fixed_rotation(dim).tobytes()).hexdigest()[:32]


def test_the_query_encoders_tokenizer_is_shared_not_copied(settings, fake_embedder):
    from bot.search.parts import QueryEncoderPart

    def encoder(folder: Path) -> QueryEncoderPart:
        (folder / "q.onnx").write_bytes(b"graph")
        (folder / "tokenizer.json").write_text('{"a": 1}', encoding="utf-8")
        return QueryEncoderPart(
            file="q.onnx",
            sha256="0" * 64,
            bytes=5,
            opset=17,
            tokenizer="tokenizer.json",
            tokenizer_sha256="ab" * 32,
            weights="w",
            model="fake-embedder",
            dim=64,
            max_tokens=40,
        )

    index, _ = build(settings.seeds_dir, fake_embedder)
    for _ in range(2):
        folder = index.save(settings.index_dir, query_encoder=encoder)
        assert not (folder / "tokenizer.json").exists()
    part = Index.load(settings.index_dir).query_encoder
    assert part is not None and part.tokenizer == f"../shared/tokenizer-{'ab' * 16}.json"
    assert (folder / part.tokenizer).read_text(encoding="utf-8") == '{"a": 1}'
    assert len(list((settings.index_dir / "shared").glob("tokenizer-*"))) == 1


def test_an_update_reads_a_kept_documents_sentences_without_decoding_all(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    loaded = Index.load(settings.index_dir)
    part = loaded.sentence_rows(2, 5)
    assert loaded._sentence_vectors is None  # nothing else decoded
    np.testing.assert_array_equal(part, index.sentence_vectors[2:5])
    (settings.seeds_dir / "bees.md").write_text("# Bees\n\nBees dance.", encoding="utf-8")
    updated, report = build(settings.seeds_dir, fake_embedder, previous=loaded)
    assert "apollo.txt" in report.reused_documents
    assert loaded._sentence_vectors is None
    apollo = [i for i in range(len(updated)) if updated.passage_document(i).source == "apollo.txt"]
    rows = [j for i in apollo for j in updated.sentence_ids(i)]
    old = [
        j
        for i in range(len(index))
        if index.passage_document(i).source == "apollo.txt"
        for j in index.sentence_ids(i)
    ]
    np.testing.assert_array_equal(updated.sentence_vectors[rows], index.sentence_vectors[old])
