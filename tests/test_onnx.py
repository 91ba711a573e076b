"""The ONNX query encoder: stamped at index time, used by open_answerer, same vectors as torch."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bot.app import open_answerer, query_embedder, rebuild
from bot.config import settings_from_dict
from bot.search.embedder import SentenceTransformerEmbedder
from bot.search.index import Index
from bot.search.onnx_embedder import ONNX_FILE, OPSET, OnnxEmbedder, file_sha256

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
    stamp = index.manifest["query_encoder"]
    assert stamp["opset"] == OPSET
    assert stamp["file"] == ONNX_FILE
    assert stamp["sha256"] == file_sha256(index.folder / ONNX_FILE)
    assert stamp["model"] == index.params.model == "all-MiniLM-L6-v2"
    on_disk = json.loads((index.folder / "manifest.json").read_text())
    assert on_disk["query_encoder"] == stamp


@pytest.mark.slow
def test_onnx_vectors_match_sentence_transformers(real_index):
    settings, embedder = real_index
    index = Index.load(settings.index_dir)
    onnx = OnnxEmbedder(index.folder, index.manifest["query_encoder"])
    assert onnx.count_tokens([LONG])[0] > 256
    got, want = onnx.embed(TEXTS), embedder.embed(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 384)
    cosine = np.sum(got * want, axis=1)
    assert cosine.min() >= 0.9999, cosine
    assert onnx.count_tokens(TEXTS) == embedder.count_tokens(TEXTS)
    # Batches are cut after sorting by length: each row must still land in its own place.
    pairs = OnnxEmbedder(index.folder, index.manifest["query_encoder"], batch_size=2)
    np.testing.assert_allclose(pairs.embed(TEXTS), got, atol=1e-5)


@pytest.mark.slow
def test_onnx_word_pieces_match_sentence_transformers(real_index):
    settings, embedder = real_index
    index = Index.load(settings.index_dir)
    onnx = OnnxEmbedder(index.folder, index.manifest["query_encoder"])
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
def test_open_answerer_queries_through_onnx(real_index):
    settings, _ = real_index
    opened = open_answerer(settings, auto_rebuild=False)
    assert isinstance(opened.embedder, OnnxEmbedder)
    answer = opened.answerer.ask("Who was the first person to walk on the lunar surface?")
    assert "Armstrong" in answer.results[0].quote


@pytest.mark.slow
def test_ask_never_imports_torch(real_index):
    settings, _ = real_index
    root, cache = str(settings.seeds_dir.parent), str(settings.cache_dir)
    code = f"""
import sys
from pathlib import Path
from bot.app import open_answerer
from bot.config import settings_from_dict
s = settings_from_dict({{"cache_dir": {cache!r}}}, Path({root!r}))
open_answerer(s, auto_rebuild=False).answerer.ask("Who walked on the Moon?")
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_broken_export_falls_back_with_a_warning(settings, use_fake, caplog, tmp_path):
    rebuild(settings, use_fake, progress=False)
    index = Index.load(settings.index_dir)
    assert "query_encoder" not in index.manifest  # the fake has no weights to export
    index.manifest["query_encoder"] = {
        "file": "missing.onnx",
        "model": index.params.model,
        "bytes": 1,
    }
    assert query_embedder(index, use_fake) is use_fake
    assert "unusable" in caplog.text


def test_open_answerer_without_export_uses_the_build_embedder(settings, use_fake):
    opened = open_answerer(settings, auto_rebuild=True)
    assert opened.embedder is use_fake
    assert opened.answerer.ask("Who walked on the Moon first?").results


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
