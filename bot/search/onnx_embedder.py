"""Queries through an ONNX export of the sentence-transformers model: no torch at question time.

At index time `export_query_encoder` writes the model's transformer, with mean pooling and L2
normalisation inside the graph (the token vectors are a second output), via plain
`torch.onnx.export` into a cache keyed by the weights' hash, and hard-links it into the index
version folder (tokenizer.json goes to the index's shared folder, bot.search.store). The
manifest stamps file names, sha256 and opset; `OnnxEmbedder` loads them with onnxruntime +
tokenizers only. A build on the CPU runs through the same cached graph (`cached_graph`), so it
imports no torch either once the export exists.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.search.embedder import normalise, pool_spans, question_pieces, unit_rows_f16
from bot.search.parts import QueryEncoderPart

log = logging.getLogger(__name__)

ONNX_FILE = "query_encoder.onnx"
GRAPHS = "onnx"  # the exports' folder under cache_dir
TOKENIZER_FILE = "tokenizer.json"
OPSET = 17
EXPORT_VERSION = 2  # bump when the exported graph changes shape or semantics (2: tokens out)
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


# file_sha256 results by (device, inode, size, mtime): every index save stamps the ~90 MB model
# and its ONNX export (hard links of one cached file), and a watching REPL or bot saves often.
_DIGESTS: dict[tuple[int, int, int, int], str] = {}
# Kept on disk too (in the graphs' cache folder), so that a one-shot `index` does not hash
# ~180 MB (0.5-1 s) that an earlier process already hashed.
DIGESTS_FILE = "digests.json"


def file_sha256(path: Path, memo: Path | None = None) -> str:
    """Hex SHA-256 of a file, read in blocks; remembered while the file's stat is unchanged,
    in this process and, with memo (a JSON file), across processes."""
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if (known := _DIGESTS.get(key)) is not None:
        return known
    stored = _read_digests(memo) if memo is not None else {}
    text_key = ":".join(map(str, key))
    if (known := stored.get(text_key)) is not None:
        _DIGESTS[key] = known
        return known
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    _DIGESTS[key] = digest.hexdigest()
    if memo is not None:
        _write_digests(memo, {**stored, text_key: _DIGESTS[key]})
    return _DIGESTS[key]


def _read_digests(memo: Path) -> dict[str, str]:
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_digests(memo: Path, digests: dict[str, str]) -> None:
    try:  # a cache: a failure to write it costs the next process one hash
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".{memo.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(digests), encoding="utf-8")
        tmp.replace(memo)
    except OSError as exc:
        log.debug("Could not keep file digests in %s: %s", memo, exc)


def weights_fingerprint(location: Path, memo: Path | None = None) -> str | None:
    """A hash of the model's weights and tokenizer, or None when they are not local files."""
    files = [location / n for n in (*_WEIGHT_FILES, TOKENIZER_FILE) if (location / n).is_file()]
    if not any(f.name in _WEIGHT_FILES for f in files) or not (location / TOKENIZER_FILE).is_file():
        return None
    digest = hashlib.sha256(f"export-v{EXPORT_VERSION}-opset{OPSET}".encode())
    for f in files:
        digest.update(f.name.encode() + file_sha256(f, memo).encode())
    return digest.hexdigest()[:32]


_PLAIN_MODULES = {"Transformer", "Pooling", "Normalize"}  # sentence-transformers module classes


def mean_pooled(location: Path) -> bool:
    """Whether the model in location is a transformer with mean pooling and nothing after it
    but normalisation: what the exported graph computes (other models get no export)."""
    try:
        modules = json.loads((location / "modules.json").read_text(encoding="utf-8"))
        types = {str(m["type"]).rsplit(".", 1)[-1] for m in modules}
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((location / pooling["path"] / "config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return False
    modes = {k for k, v in config.items() if k.startswith("pooling_mode_") and v}
    return types <= _PLAIN_MODULES and modes == {"pooling_mode_mean_tokens"}


def pooled_dim(location: Path) -> int | None:
    """The model's vector length as its pooling layer states it (no model loaded)."""
    try:
        modules = json.loads((location / "modules.json").read_text(encoding="utf-8"))
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((location / pooling["path"] / "config.json").read_text("utf-8"))
        return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def graph_path(name: str, location: Path, graphs: Path) -> Path | None:
    """Where the export of the model name (files in location) is cached under graphs (it may
    not be there yet); None when the model cannot be exported (no local weights, or not mean
    pooling)."""
    if not location.is_dir() or not mean_pooled(location):
        return None
    fingerprint = weights_fingerprint(location, graphs / DIGESTS_FILE)
    if fingerprint is None:
        return None
    return graphs / f"{name.replace('/', '_')}-{fingerprint}.onnx"


def _export(model: Any, target: Path) -> None:
    """torch.onnx.export of transformer + mean pooling + normalisation (torch imported here)."""
    import torch  # index time only: seconds to import

    transformer = model[0].auto_model
    if transformer.dtype != torch.float32:  # a float16 model on a GPU: queries run float32
        transformer = copy.deepcopy(transformer).to(torch.float32)

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1), hidden

    # On the model's device: an index built on a GPU exports from the GPU copy of the weights.
    dummy = torch.ones(2, 8, dtype=torch.long, device=transformer.device)
    dynamic = {
        n: {0: "batch", 1: "tokens"} for n in ("input_ids", "attention_mask", "token_type_ids")
    }
    dynamic["embedding"] = {0: "batch"}
    dynamic["tokens"] = {0: "batch", 1: "tokens"}
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's warnings concern control flow that is constant for this model.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder().eval(),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding", "tokens"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript
        )
    tmp.replace(target)


def _link(src: Path, dst: Path) -> None:
    """Hard-link src to dst (no copy of 90 MB per index version), copying across devices."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def export_query_encoder(embedder: Any, folder: Path, cache_dir: Path) -> QueryEncoderPart | None:
    """Put the ONNX query encoder and tokenizer in folder; return the part.

    embedder is a SentenceTransformerEmbedder; anything without local weights, or not mean
    pooled, gets no export (None), and queries then go through the embedder itself. The export
    is made once per model (cached under cache_dir/onnx by the weights' hash) and linked.
    """
    from bot.search.embedder import SentenceTransformerEmbedder

    if not isinstance(embedder, SentenceTransformerEmbedder):
        return None
    location, graphs = Path(embedder.location), cache_dir / GRAPHS
    cached = graph_path(embedder.name, location, graphs)
    if cached is None:
        return None
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        log.info("Exporting %s to ONNX for fast queries", embedder.name)
        _export(embedder.model, cached)
    _link(cached, folder / ONNX_FILE)
    shutil.copyfile(location / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    memo = graphs / DIGESTS_FILE
    return QueryEncoderPart(
        file=ONNX_FILE,
        sha256=file_sha256(folder / ONNX_FILE, memo),  # a link of the cached file: known
        bytes=(folder / ONNX_FILE).stat().st_size,
        opset=OPSET,
        tokenizer=TOKENIZER_FILE,
        tokenizer_sha256=file_sha256(location / TOKENIZER_FILE, memo),
        weights=cached.stem.rsplit("-", 1)[-1],
        model=embedder.name,
        dim=int(embedder.dim),
        max_tokens=int(embedder.max_tokens),
    )


def padded_feed(batch: Sequence[Any], pad: int, names: set[str]) -> dict[str, np.ndarray]:
    """A BERT graph's inputs for a batch of tokenizers Encodings, padded to the longest: ids,
    attention mask and token types (only those among the graph's input names)."""
    width = max(len(e.ids) for e in batch)
    feed = {
        "input_ids": np.full((len(batch), width), pad, dtype=np.int64),
        "attention_mask": np.zeros((len(batch), width), dtype=np.int64),
        "token_type_ids": np.zeros((len(batch), width), dtype=np.int64),
    }
    for r, e in enumerate(batch):
        n = len(e.ids)
        feed["input_ids"][r, :n] = e.ids
        feed["attention_mask"][r, :n] = 1
        feed["token_type_ids"][r, :n] = e.type_ids
    return {k: v for k, v in feed.items() if k in names}


# Texts per model call when a build embeds through the export. The texts are sorted by length,
# so smaller batches pad less: 400 SQuAD-dev passages as files, 2 cores, 3 alternating runs
# each, median 9.87 s at 8, 10.15 s at 16, 10.74 s at 32 (sentence-transformers' default).
BUILD_BATCH = 8


class OnnxEmbedder:
    """The Embedder protocol over an exported model: onnxruntime and tokenizers, no torch.

    Questions go through the index's copy (OnnxEmbedder(folder, part)); an index build on the
    CPU goes through the cached export (OnnxEmbedder.of_graph), which also gives each passage's
    token vectors and pooled sentence vectors (SpanEmbedder), as the torch model does.
    """

    def __init__(
        self,
        folder: Path,
        part: QueryEncoderPart,
        *,
        threads: int | None = None,
        batch_size: int = 16,
    ) -> None:
        path = folder / part.file
        if path.stat().st_size != part.bytes:
            raise ValueError(
                f"{path} has {path.stat().st_size} bytes, the manifest says {part.bytes}"
            )
        # Concurrent questions are batched into one call (bot.answer.batching), so that call should
        # use every core: measured 4.2 ms a question with 2 threads vs 7.8 with 1 (batch of 64).
        # Idle threads must not spin: NumPy's search runs right after on the same cores.
        self._open(path, folder / part.tokenizer, threads or min(4, os.cpu_count() or 1), False)
        self.name: str = part.model
        self.dim: int = part.dim
        self.max_tokens: int = part.max_tokens
        self.batch_size = batch_size
        self._finish_tokenizer()

    @classmethod
    def of_graph(
        cls, graph: Path, tokenizer: Path, *, name: str, dim: int, max_tokens: int
    ) -> OnnxEmbedder:
        """The export at graph with the tokenizer file, to embed an index's passages: every
        core, batches of BUILD_BATCH."""
        self = cls.__new__(cls)
        self._open(graph, tokenizer, os.cpu_count() or 1, True)
        self.name, self.dim, self.max_tokens = name, dim, max_tokens
        self.batch_size = BUILD_BATCH
        self._finish_tokenizer()
        return self

    def _open(self, graph: Path, tokenizer: Path, threads: int, spinning: bool) -> None:
        import onnxruntime as ort  # only when questions are answered or an index is built
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if spinning else "0"
        )
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self.session.get_inputs()}
        raw = tokenizer.read_text(encoding="utf-8")
        self._counter = Tokenizer.from_str(raw)
        self._tokenizer = Tokenizer.from_str(raw)

    def _finish_tokenizer(self) -> None:
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()  # each length-sorted batch is padded by padded_feed
        pad = self._tokenizer.token_to_id("[PAD]")
        self._pad = 0 if pad is None else pad

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens excluded."""
        if not texts:
            return []
        return [
            len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)
        ]

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Encode texts to unit-length float32 rows (progress is ignored)."""
        return self._run(texts, tokens=False)[0]

    def embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Pooled vectors and token vectors from one run of the graph (TokenEmbedder)."""
        return self._run(texts, tokens=True, query=query)

    def embed_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """Passage, token and span (sentence) vectors from one run of the graph (SpanEmbedder):
        a span's vector is the mean of its tokens' vectors, by the tokenizer's offsets."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        tokens: list[np.ndarray] = [np.zeros((0, self.dim), np.float16)] * len(texts)
        pooled: list[np.ndarray] = [np.zeros((0, self.dim), np.float32)] * len(texts)
        for rows, batch, result in self._batches(texts, ["embedding", "tokens"]):
            out[rows] = result[0]
            for r, (i, e) in enumerate(zip(rows, batch, strict=True)):
                hidden = result[1][r, : len(e.ids)]
                tokens[i] = unit_rows_f16(hidden)
                offsets = np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2)
                pooled[i] = pool_spans(hidden, offsets, spans[i])
        return normalise(out), tokens, pooled

    def _batches(
        self, texts: Sequence[str], outputs: list[str]
    ) -> Iterator[tuple[np.ndarray, list[Any], list[np.ndarray]]]:
        """Run the graph over texts, sorted by length and cut into batches of similar length:
        each batch's positions in texts, its encodings and the graph's outputs.

        A short text is then not padded to the longest one of the batch: every padded
        position costs a full pass through the model.
        """
        encoded = self._tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encoded], kind="stable")
        for lo in range(0, len(order), self.batch_size):
            rows = order[lo : lo + self.batch_size]
            batch = [encoded[i] for i in rows]
            yield (
                rows,
                batch,
                self.session.run(outputs, padded_feed(batch, self._pad, self._input_names)),
            )

    def _run(
        self, texts: Sequence[str], *, tokens: bool, query: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Pooled vectors (and with tokens, each text's token vectors) of texts."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        pieces: list[np.ndarray] = [np.zeros((0, self.dim), np.float16)] * len(texts)
        outputs = ["embedding", "tokens"] if tokens else ["embedding"]
        for rows, batch, result in self._batches(texts, outputs):
            out[rows] = result[0]
            if tokens:
                for r, (i, e) in enumerate(zip(rows, batch, strict=True)):
                    hidden = result[1][r, : len(e.ids)]
                    if query:
                        hidden = hidden[question_pieces(e.tokens, e.special_tokens_mask)]
                    pieces[i] = unit_rows_f16(hidden)
        # The graph normalises; renormalising guards float drift at no visible cost.
        return normalise(out), pieces
