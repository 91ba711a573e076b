"""The device choice for index builds (CUDA in float16) and pooling span vectors from word
pieces (no model)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bot.app import make_embedder
from bot.config import settings_from_dict
from bot.errors import ConfigError
from bot.search.embedder import (
    SentenceTransformerEmbedder,
    device_dtype,
    pick_device,
    pool_spans,
)


def fake_torch(cuda: bool, mps: bool | None) -> SimpleNamespace:
    """A stand-in for torch with only the availability checks pick_device asks."""
    backends = (
        SimpleNamespace()
        if mps is None
        else SimpleNamespace(mps=SimpleNamespace(is_available=lambda: mps))
    )
    return SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: cuda), backends=backends)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [
        (True, True, "cuda"),  # CUDA first, even where MPS is there too
        (False, True, "mps"),
        (False, False, "cpu"),
        (False, None, "cpu"),  # a torch build without the MPS backend at all
    ],
)
def test_auto_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool | None, expected: str
) -> None:
    monkeypatch.setitem(sys.modules, "torch", fake_torch(cuda, mps))
    monkeypatch.setattr("bot.search.embedder.may_have_accelerator", lambda: True)
    assert pick_device("auto") == expected


def test_auto_without_a_gpu_driver_is_the_cpu_without_importing_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch would now fail
    monkeypatch.setattr("bot.search.embedder.may_have_accelerator", lambda: False)
    assert pick_device("auto") == "cpu"


def test_cuda_loads_the_model_in_float16(monkeypatch):
    """device = "auto" on a machine with CUDA: the model is loaded there, in float16."""
    loaded: list[tuple[str, str]] = []

    class FakeModel:
        def __init__(self, location, device):
            self.device, self.dtype = device, "float32"

        def to(self, dtype):
            self.dtype = dtype
            return self

    torch = fake_torch(cuda=True, mps=None)
    torch.float16 = "torch.float16"
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(
        sys.modules, "sentence_transformers", SimpleNamespace(SentenceTransformer=FakeModel)
    )
    quiet = SimpleNamespace(logging=SimpleNamespace(disable_progress_bar=lambda: None))
    monkeypatch.setitem(sys.modules, "transformers", SimpleNamespace(utils=quiet))
    monkeypatch.setitem(sys.modules, "transformers.utils", quiet)
    monkeypatch.setattr("bot.search.embedder.may_have_accelerator", lambda: True)
    model = SentenceTransformerEmbedder(device="auto").model
    loaded.append((model.device, model.dtype))
    assert loaded == [("cuda", "torch.float16")]
    assert device_dtype("cuda") == device_dtype("cuda:1") == "float16"
    assert device_dtype("cpu") == device_dtype("mps") == "float32"
    # and on the CPU the weights stay float32
    monkeypatch.setattr("bot.search.embedder.may_have_accelerator", lambda: False)
    assert SentenceTransformerEmbedder(device="auto").model.dtype == "float32"


def test_a_build_without_a_cached_export_embeds_with_torch(tmp_path):
    embedder = SentenceTransformerEmbedder(device="cpu", graphs=tmp_path / "onnx")
    assert embedder.onnx is None  # nothing exported yet: torch embeds (loaded when used)
    assert SentenceTransformerEmbedder(device="cuda", graphs=tmp_path).onnx is None
    assert SentenceTransformerEmbedder(device="cpu").onnx is None


def test_an_explicit_device_is_kept_without_asking_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch would now fail
    assert pick_device("cpu") == "cpu"
    assert pick_device("cuda") == "cuda"


def test_the_device_setting_reaches_the_embedder() -> None:
    settings = settings_from_dict({"device": "cpu"}, Path())
    assert settings.device == "cpu"
    embedder = make_embedder(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.device == "cpu"
    assert settings_from_dict({}, Path()).device == "auto"
    with pytest.raises(ConfigError, match="device must be one of"):
        settings_from_dict({"device": "gpu"}, Path())


def test_pool_spans_means_the_pieces_inside_each_span() -> None:
    # [CLS] "ab" "cd" | "ef" [SEP]: two spans of the text "ab cd ef".
    pieces = np.array([[9, 9], [1, 0], [0, 1], [3, 4], [9, -9]], dtype=np.float32)
    offsets = np.array([[0, 0], [0, 2], [3, 5], [6, 8], [0, 0]])
    pooled = pool_spans(pieces, offsets, [(0, 5), (6, 8)])
    np.testing.assert_allclose(pooled[0], np.array([1, 1]) / np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(pooled[1], [0.6, 0.8], rtol=1e-6)  # special tokens never count


def test_pool_spans_falls_back_to_the_next_piece_for_a_span_inside_one() -> None:
    pieces = np.array([[1, 0], [0, 1]], dtype=np.float32)
    offsets = np.array([[0, 4], [4, 8]])
    pooled = pool_spans(pieces, offsets, [(5, 6)])  # inside the second piece
    np.testing.assert_allclose(pooled[0], [0, 1])


@pytest.mark.slow
def test_the_real_model_pools_sentences_from_the_passage_pass() -> None:
    embedder = SentenceTransformerEmbedder(device="cpu")
    text = "Café history\nThe café opened in 1899. It served coffee – and tea – to poets."
    spans = [(13, 37), (38, len(text))]
    vectors, pieces, pooled = embedder.embed_spans([text], [spans])
    np.testing.assert_allclose(vectors[0] @ embedder.embed([text])[0], 1.0, atol=1e-4)
    assert pieces[0].shape[0] == embedder.count_tokens([text])[0] + 2  # with [CLS], [SEP]
    assert pooled[0].shape == (2, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(pooled[0], axis=1), 1.0, rtol=1e-5)
    alone = embedder.embed([text[a:b] for a, b in spans])
    # In context, yet each pooled vector is closest to its own sentence embedded alone.
    sims = pooled[0] @ alone.T
    assert sims[0, 0] > sims[0, 1] and sims[1, 1] > sims[1, 0]
