"""The ONNX query encoder: a part of the index, used by open_index, same vectors as torch."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bot.app import make_embedder, open_index, query_embedder, rebuild
from bot.config import settings_from_dict
from bot.search.embedder import SentenceTransformerEmbedder
from bot.search.onnx_embedder import ONNX_FILE, OPSET, OnnxEmbedder, file_sha256
from bot.search.parts import QueryEncoderPart
from bot.search.store import Index

from .conftest import write_corpus

LONG = " ".join(["The Saturn V rocket launched every crewed Apollo mission to the Moon."] * 40)
TEXTS = [
    "Who was the first person to walk on the Moon?",
    "bees",
    "Mount Etna in Sicily is one of the most active volcanoes in Europe.",
    LONG,  # far past the 256-word-piece window: truncation must match
]


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    """The seeds-sized corpus indexed with the real model (and its ONNX export)."""
    root = tmp_path_factory.mktemp("real")
    write_corpus(root / "seeds")
    settings = settings_from_dict({"cache_dir": str(root / "cache")}, root)
    embedder = SentenceTransformerEmbedder()
    rebuild(settings, embedder, progress=False)
    return settings, embedder


@pytest.mark.slow
def test_manifest_stamps_the_onnx_export(real_index):
    settings, _ = real_index
    index = Index.load(settings.index_dir)
    part = index.query_encoder
    assert part is not None
    assert part.opset == OPSET
    assert part.file == ONNX_FILE
    assert part.sha256 == file_sha256(index.folder / ONNX_FILE)
    assert part.model == index.params.model == "all-MiniLM-L6-v2"
    on_disk = json.loads((index.folder / "manifest.json").read_text())
    assert on_disk["query_encoder"]["sha256"] == part.sha256


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers(real_index):
    settings, embedder = real_index
    index = Index.load(settings.index_dir)
    onnx = OnnxEmbedder(index.folder, index.query_encoder)
    assert onnx.count_tokens([LONG])[0] > 256
    got, want = onnx.embed(TEXTS), embedder.embed(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 384)
    cosine = np.sum(got * want, axis=1)
    assert cosine.min() >= 0.9999, cosine
    assert onnx.count_tokens(TEXTS) == embedder.count_tokens(TEXTS)
    # Batches are cut after sorting by length: each row must still land in its own place.
    pairs = OnnxEmbedder(index.folder, index.query_encoder, batch_size=2)
    np.testing.assert_allclose(pairs.embed(TEXTS), got, atol=1e-5)


@pytest.mark.slow
def test_onnx_word_pieces_match_sentence_transformers(real_index):
    settings, embedder = real_index
    index = Index.load(settings.index_dir)
    onnx = OnnxEmbedder(index.folder, index.query_encoder)
    for query in (False, True):
        got_v, got_t = onnx.embed_tokens(TEXTS, query=query)
        want_v, want_t = embedder.embed_tokens(TEXTS, query=query)
        np.testing.assert_allclose(got_v, want_v, atol=1e-3)
        for text, g, w in zip(TEXTS, got_t, want_t, strict=True):
            assert g.shape == w.shape, text
            assert g.dtype == np.float16
            cosine = np.sum(g.astype(np.float32) * w.astype(np.float32), axis=1)
            assert cosine.min() >= 0.999, (text, cosine.min())
    # A question keeps its words only: no [CLS], [SEP] or question mark.
    pieces = onnx.embed_tokens(["Who walked on the Moon?"], query=True)[1][0]
    assert pieces.shape[0] == 5


@pytest.mark.slow
def test_open_index_queries_through_onnx(real_index):
    settings, _ = real_index
    loaded, reasons = open_index(settings, make_embedder(settings), update=False)
    assert reasons == []
    assert isinstance(loaded.queries, OnnxEmbedder)
    answer = loaded.answerer.ask("Who was the first person to walk on the lunar surface?")
    assert "Armstrong" in answer.results[0].quote


@pytest.mark.slow
def test_ask_never_imports_torch(real_index):
    settings, _ = real_index
    root, cache = str(settings.seeds_dir.parent), str(settings.cache_dir)
    code = f"""
import sys
from pathlib import Path
from bot.app import make_embedder, open_index
from bot.config import settings_from_dict
s = settings_from_dict({{"cache_dir": {cache!r}}}, Path({root!r}))
open_index(s, make_embedder(s), update=False)[0].answerer.ask("Who walked on the Moon?")
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_broken_export_falls_back_with_a_warning(settings, use_fake, caplog, tmp_path):
    rebuild(settings, use_fake, progress=False)
    index = Index.load(settings.index_dir)
    assert index.query_encoder is None  # the fake has no weights to export
    index.query_encoder = QueryEncoderPart(
        file="missing.onnx",
        sha256="0" * 64,
        bytes=1,
        opset=OPSET,
        tokenizer="tokenizer.json",
        tokenizer_sha256="0" * 64,
        weights="none",
        model=index.params.model,
        dim=index.params.dim,
        max_tokens=index.params.max_tokens,
    )
    assert query_embedder(index, use_fake) is use_fake
    assert "unusable" in caplog.text


def test_open_index_without_export_uses_the_build_embedder(settings, use_fake):
    loaded, _ = open_index(settings, use_fake, update=True)
    assert loaded.queries is use_fake
    assert loaded.answerer.ask("Who walked on the Moon first?").results


def test_file_digests_are_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib

    from bot.search import onnx_embedder

    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(onnx_embedder.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 1000)
    first = file_sha256(path)
    assert first == real(b"a" * 1000).hexdigest()
    assert file_sha256(path) == first and len(calls) == 1  # read once
    linked = tmp_path / "link.bin"
    linked.hardlink_to(path)
    assert file_sha256(linked) == first and len(calls) == 1  # a hard link is the same file
    path.write_bytes(b"b" * 999)
    assert file_sha256(path) == real(b"b" * 999).hexdigest() and len(calls) == 2


def test_file_digests_are_kept_on_disk_for_the_next_process(tmp_path, monkeypatch):
    from bot.search import onnx_embedder

    path, memo = tmp_path / "weights.bin", tmp_path / "onnx" / "digests.json"
    path.write_bytes(b"c" * 100)
    digest = file_sha256(path, memo)
    monkeypatch.setattr(onnx_embedder, "_DIGESTS", {})  # as a new process starts
    monkeypatch.setattr(onnx_embedder.hashlib, "sha256", None)  # hashing would now fail
    assert file_sha256(path, memo) == digest
    memo.write_text("not json", encoding="utf-8")  # a damaged memo only costs a hash
    monkeypatch.undo()
    monkeypatch.setattr(onnx_embedder, "_DIGESTS", {})
    assert file_sha256(path, memo) == digest


def test_only_a_mean_pooled_model_is_exported(tmp_path):
    from bot.search.onnx_embedder import graph_path, mean_pooled, pooled_dim

    def model(pooling: dict, extra: tuple[str, ...] = ()):
        folder = tmp_path / f"m{len(list(tmp_path.iterdir()))}"
        (folder / "1_Pooling").mkdir(parents=True)
        types = ["Transformer", "Pooling", "Normalize", *extra]
        modules = [
            {
                "path": "1_Pooling" if t == "Pooling" else "",
                "type": f"sentence_transformers.models.{t}",
            }
            for t in types
        ]
        (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
        return folder

    mean = {"word_embedding_dimension": 8, "pooling_mode_mean_tokens": True}
    assert mean_pooled(model(mean)) and pooled_dim(model(mean)) == 8
    assert not mean_pooled(
        model({**mean, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    )
    assert not mean_pooled(model(mean, ("Dense",)))  # a projection the graph leaves out
    assert not mean_pooled(tmp_path / "nowhere")
    assert graph_path("m", model({**mean, "pooling_mode_max_tokens": True}), tmp_path) is None


@pytest.mark.slow
def test_onnx_span_vectors_match_sentence_transformers(real_index):
    settings, embedder = real_index
    index = Index.load(settings.index_dir)
    onnx = OnnxEmbedder(index.folder, index.query_encoder)
    spans = [[(0, 3), (4, len(t))] if len(t) > 4 else [(0, len(t))] for t in TEXTS]
    got = onnx.embed_spans(TEXTS, spans)
    want = embedder.embed_spans(TEXTS, spans)
    np.testing.assert_allclose(got[0], want[0], atol=1e-3)
    for g, w in zip(got[1] + got[2], want[1] + want[2], strict=True):
        assert g.shape == w.shape
        cosine = np.sum(g.astype(np.float32) * w.astype(np.float32), axis=1)
        assert cosine.min() >= 0.999


@pytest.mark.slow
def test_a_build_with_the_export_cached_imports_no_torch(real_index, tmp_path):
    settings, _ = real_index
    index = Index.load(settings.index_dir)
    # The query encoder's tokenizer lives once in the index's shared folder.
    assert index.query_encoder is not None
    assert index.query_encoder.tokenizer.startswith("../shared/tokenizer-")
    assert not (index.folder / "tokenizer.json").exists()
    root, cache = str(settings.seeds_dir.parent), str(settings.cache_dir)
    index_dir = str(tmp_path / "index")
    code = f"""
import sys
from pathlib import Path
from bot.app import make_embedder, rebuild
from bot.config import settings_from_dict
from bot.search.store import Index
s = settings_from_dict({{"cache_dir": {cache!r}, "index_dir": {index_dir!r}}}, Path({root!r}))
embedder = make_embedder(s)
index, _ = rebuild(s, embedder, full=True, progress=False)
print(embedder.onnx is not None, index.query_encoder is not None)
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["True True", "[]"]
    # The same vectors as the torch build's, to float and int8 rounding.
    built, torch_built = Index.load(tmp_path / "index"), index
    np.testing.assert_allclose(built.passage_vectors, torch_built.passage_vectors, atol=1e-4)
    np.testing.assert_allclose(built.sentence_vectors, torch_built.sentence_vectors, atol=0.01)
