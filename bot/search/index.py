"""The passage index on disk: build (incrementally), save atomically, load, check staleness.

Layout of the index folder::

    CURRENT                    name of the live version folder (replaced atomically)
    v-<id>/manifest.json       format, model, dimension, settings, one entry per source file
    v-<id>/documents.jsonl     source, title, sha256, URL, extracted text and layout of each
                               document (Document.to_json)
    v-<id>/passages.npy        int64 (N, 5): doc, start, end, first sentence, end sentence
    v-<id>/sentences.npy       int64 (M, 3): doc, start, end
    v-<id>/passage_vectors.npy float32 (N, dim), unit rows
    v-<id>/sentence_vectors.npy float32 (M, dim), unit rows
    v-<id>/token_vectors.npy   uint8 (T, dim / 8): every word piece of every passage, a unit
                               row turned by token_rotation, kept as the signs of its
                               coordinates, packed 8 to a byte (quantize_rows)
    v-<id>/token_scales.npy    float16 (T,): each row's mean absolute turned coordinate
    v-<id>/token_rotation.npy  float32 (dim, dim): the orthogonal turn (fixed seed)
    v-<id>/token_ranges.npy    int64 (N, 2): each passage's rows of token_vectors
    v-<id>/bm25/               the lexical index
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import ChunkingSettings
from bot.errors import IndexCorruptError, IndexMissingError
from bot.ingest.chunking import chunk_document
from bot.ingest.corpus import Document
from bot.search.embedder import Embedder, SpanEmbedder, TokenEmbedder, normalise
from bot.search.lexical import LexicalIndex

log = logging.getLogger(__name__)

# Bump when the files, their meaning or the lexical tokenization change: older indexes are
# then reported as needing a rebuild (and the REPL and bot rebuild them).
# 5: documents carry a URL and a layout (pages, lines, sections). 6: sentence vectors are
# pooled from their passage's word pieces (a different vector for the same sentence).
# 7: sentences split by sentencex, not pysbd (other sentence rows for the same text).
# 8: word pieces kept as 1 bit a dimension after a fixed rotation, not int8 (a word piece
# of dimension 384 takes 50 bytes, not 388). 9: their scale keeps a row's dot product with
# itself (8 had the least-squares scale, which shrank MaxSim values).
FORMAT_VERSION = 9
# Passages embedded per model call when word pieces are kept (their float vectors are held
# until quantized: 2,048 passages are about 0.5 GB).
TOKEN_SLICE = 2048
# Pooled sentence vectors less this share of their passage's vector (SQuAD-dev tune split:
# recall@1 0.879 at 0, 0.887 at 0.5, as with each sentence embedded alone: 0.887).
CONTEXT_WEIGHT = 0.5
# Word pieces beyond this are worth a warning at build time: ~1.6M SQuAD-sized passages at
# ~6 KB each (a million passages with late interaction on is a supported size).
TOKEN_WARN_BYTES = 10**10
POINTER = "CURRENT"


Quantized = tuple[np.ndarray, np.ndarray]  # packed sign bits (uint8) and float16 scales
TOKEN_ROTATION_SEED = 13


@functools.cache
def word_piece_rotation(dim: int) -> np.ndarray:
    """A random orthogonal (dim, dim) matrix from a fixed seed, stored with each index.

    Turning a word piece before keeping only its signs spreads the few large coordinates of
    the model's vectors over all of them, so no one sign carries much of the vector.
    Computed once per process (its QR took seconds of each live update under load) and
    returned read-only, since every caller shares it.
    """
    gauss = np.random.default_rng(TOKEN_ROTATION_SEED).standard_normal((dim, dim))
    q, r = np.linalg.qr(gauss)
    rotation = np.asarray(q * np.sign(np.diag(r)), dtype=np.float32)
    rotation.setflags(write=False)
    return rotation


def quantize_rows(matrix: np.ndarray, rotation: np.ndarray) -> Quantized:
    """Rows turned by rotation, kept as the signs of their coordinates (1 bit a dimension,
    packed) and one float16 scale: dim / 8 + 2 bytes a row.

    The scale is |y|^2 / |y|_1 for the turned row y, so that a decoded row's dot product with
    its own original is exactly |y|^2 (1 for the unit word pieces) and its dot products with
    other vectors are on the same scale as the original's: MaxSim values, which the answer's
    confidence uses, keep their meaning (the least-squares scale, mean |y|, shrinks them to
    ~0.64 of a unit row's). The cosine of a decoded row to its original is |y|_1 /
    (sqrt(dim) |y|), sqrt(2 / pi) ~ 0.80 for a spread-out row, which the rotation makes likely.

    Word-piece vectors are stored so. Measured on SQuAD-dev's tuning split, same index
    (BENCHMARKS.md, word-piece vectors): re-ranking recall@1 0.8850 against 0.8869 with int8
    rows (dim + 4 bytes a row). Product quantization at 48 bytes (48 sub-vectors, 256
    centroids each) kept 0.8869 but needs codebooks trained on the corpus (minutes of k-means,
    50 s to encode 283k pieces, and codes that drift from the codebook as a live index
    grows); 1-bit residuals to 1,024 k-means centroids fell to 0.8748. Signs need no training
    and encode in one product.
    """
    m = np.asarray(matrix, dtype=np.float32)
    if not m.size:
        empty = np.zeros((m.shape[0], packed_width(rotation.shape[1])), np.uint8)
        return empty, np.zeros(m.shape[0], np.float16)
    turned = m @ rotation
    l1 = np.abs(turned).sum(axis=1)
    scales = np.divide((turned * turned).sum(axis=1), l1, out=np.zeros_like(l1), where=l1 > 0)
    return np.packbits(turned > 0, axis=1), scales.astype(np.float16)


def dequantize_rows(quantized: Quantized, rotation: np.ndarray) -> np.ndarray:
    """The rows quantize_rows approximates: scale * signs, turned back."""
    bits, scales = quantized
    ones = np.unpackbits(np.asarray(bits, np.uint8), axis=1, count=rotation.shape[0])
    signs = ones.astype(np.float32) * 2 - 1
    return np.asarray((signs * scales.astype(np.float32)[:, None]) @ rotation.T, np.float32)


def packed_dots(quantized: Quantized, turned: np.ndarray) -> np.ndarray:
    """Dot products (rows, queries) of the rows quantize_rows approximates with query rows
    already turned by the same rotation, without turning the rows back: with u the 0/1 bits,
    scale * signs . q = scale * (2 u . q - sum(q)). As fast as int8 rows widened to float32
    (0.60 against 0.53 ms for 2,400 rows and 12 query rows, one thread)."""
    bits, scales = quantized
    turned = np.asarray(turned, dtype=np.float32)
    ones = np.unpackbits(np.asarray(bits, np.uint8), axis=1, count=turned.shape[1])
    dots = 2 * (ones.astype(np.float32) @ turned.T) - turned.sum(axis=1)
    return np.asarray(dots * np.asarray(scales, np.float32)[:, None], np.float32)


def packed_width(dim: int) -> int:
    """Bytes of one packed word-piece row."""
    return (dim + 7) // 8


@dataclass(frozen=True)
class IndexParams:
    """Everything that decides the passage rows; a change means a full rebuild."""

    model: str
    dim: int
    max_tokens: int
    target_tokens: int
    overlap_sentences: int
    embed_titles: bool
    token_vectors: bool = False


def params_for(embedder: Embedder, chunking: ChunkingSettings) -> IndexParams:
    """The IndexParams an index built now with this embedder and these settings would have."""
    return IndexParams(
        model=embedder.name,
        dim=embedder.dim,
        max_tokens=embedder.max_tokens,
        target_tokens=chunking.target_tokens,
        overlap_sentences=chunking.overlap_sentences,
        embed_titles=chunking.embed_titles,
        token_vectors=chunking.token_vectors and isinstance(embedder, TokenEmbedder),
    )


class Index:
    """Passages and sentences of a corpus with their vectors and a BM25 index."""

    def __init__(
        self,
        params: IndexParams,
        documents: list[Document],
        passages: np.ndarray,
        sentences: np.ndarray,
        passage_vectors: np.ndarray,
        sentence_vectors: np.ndarray,
        lexical: LexicalIndex | None = None,
        skipped: dict[str, str] | None = None,
        *,
        token_vectors: np.ndarray | None = None,
        token_scales: np.ndarray | None = None,
        token_ranges: np.ndarray | None = None,
        token_rotation: np.ndarray | None = None,
    ) -> None:
        self.params = params
        self.documents = documents
        self.passages = passages
        self.sentences = sentences
        self.passage_vectors = passage_vectors
        self.sentence_vectors = sentence_vectors
        # Empty when the index keeps no word-piece vectors (params.token_vectors false).
        width = packed_width(params.dim)
        self.token_vectors = (
            np.zeros((0, width), np.uint8) if token_vectors is None else token_vectors
        )
        self.token_scales = np.zeros(0, np.float16) if token_scales is None else token_scales
        self.token_ranges = np.zeros((0, 2), np.int64) if token_ranges is None else token_ranges
        # The turn applied before quantize_rows (questions' word pieces get the same turn).
        self.token_rotation = (
            word_piece_rotation(params.dim) if token_rotation is None else token_rotation
        )
        self.skipped = skipped or {}
        self._lexical = lexical
        # Set by load(): where the version lives and what its manifest says (extra artefacts).
        self.folder: Path | None = None
        self.manifest: dict[str, Any] = {}

    def __len__(self) -> int:
        return int(self.passages.shape[0])

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index, built on first use if it was not loaded."""
        if self._lexical is None:
            self._lexical = LexicalIndex.build([self.lexical_text(i) for i in range(len(self))])
        return self._lexical

    def passage_text(self, i: int) -> str:
        """The verbatim text of passage i."""
        doc, start, end = (int(x) for x in self.passages[i, :3])
        return self.documents[doc].text[start:end]

    def lexical_text(self, i: int) -> str:
        """What BM25 indexes for passage i: the document title and the passage."""
        return f"{self.documents[int(self.passages[i, 0])].title}\n{self.passage_text(i)}"

    def sentence_ids(self, i: int) -> range:
        """Rows of the sentence table that make up passage i."""
        return range(int(self.passages[i, 3]), int(self.passages[i, 4]))

    def sentence_text(self, j: int) -> str:
        """The verbatim text of sentence j."""
        doc, start, end = (int(x) for x in self.sentences[j])
        return self.documents[doc].text[start:end]

    # ----------------------------------------------------------------- persistence

    def save(
        self,
        index_dir: Path,
        *,
        extras: Callable[[Path], dict[str, Any]] | None = None,
        vector_dtype: str = "float32",
    ) -> Path:
        """Write a new version folder, then switch CURRENT to it in one atomic rename.

        extras(folder) may write more files (ONNX query encoder, ANN index) into the version
        folder and returns manifest entries describing them; vector_dtype is the storage type of
        the vector matrices ("float32" or "float16").
        """
        index_dir.mkdir(parents=True, exist_ok=True)
        version = f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = index_dir / f".tmp-{version}"
        tmp.mkdir()
        try:
            self._write(tmp, extras, vector_dtype)
            final = index_dir / version
            tmp.rename(final)
            pointer_tmp = index_dir / f".{POINTER}.{version}"
            pointer_tmp.write_text(version + "\n", encoding="utf-8")
            _fsync(pointer_tmp)
            pointer_tmp.replace(index_dir / POINTER)
            _fsync_dir(index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in index_dir.iterdir():
            if old.is_dir() and old.name != version and (old.name.startswith(("v-", ".tmp-"))):
                shutil.rmtree(old, ignore_errors=True)
        return final

    def _write(
        self, folder: Path, extras: Callable[[Path], dict[str, Any]] | None, vector_dtype: str
    ) -> None:
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            **asdict(self.params),
            "passages": len(self),
            "sentences": int(self.sentences.shape[0]),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "documents": [
                {"source": d.source, "title": d.title, "sha256": d.sha256} for d in self.documents
            ],
            "skipped": self.skipped,
            "vector_dtype": vector_dtype,
        }
        with (folder / "documents.jsonl").open("w", encoding="utf-8") as fh:
            for d in self.documents:
                fh.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
        arrays = {
            "passages": self.passages,
            "sentences": self.sentences,
            "passage_vectors": np.asarray(self.passage_vectors, dtype=vector_dtype),
            "sentence_vectors": np.asarray(self.sentence_vectors, dtype=vector_dtype),
            "token_vectors": np.asarray(self.token_vectors, dtype=np.uint8),
            "token_scales": np.asarray(self.token_scales, dtype=np.float16),
            "token_ranges": np.asarray(self.token_ranges, dtype=np.int64),
            "token_rotation": np.asarray(self.token_rotation, dtype=np.float32),
        }
        for name, arr in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        self.lexical.save(folder / "bm25")
        if extras is not None:
            manifest.update(extras(folder))
        # The manifest goes last: a folder without one is never a finished index.
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for path in folder.rglob("*"):
            if path.is_file():
                _fsync(path)

    @classmethod
    def load(cls, index_dir: Path, *, mmap: bool = True) -> Index:
        """Read the current version; IndexMissingError or IndexCorruptError name any problem."""
        pointer = index_dir / POINTER
        if not pointer.exists():
            raise IndexMissingError(f"No index in {index_dir}. Build one with: python -m bot index")
        folder = index_dir / pointer.read_text(encoding="utf-8").strip()
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("format_version") != FORMAT_VERSION:
                raise IndexCorruptError(
                    f"The index in {index_dir} has format {manifest.get('format_version')}, "
                    f"this version reads {FORMAT_VERSION}"
                )
            params = IndexParams(**{k: manifest[k] for k in IndexParams.__dataclass_fields__})
            with (folder / "documents.jsonl").open(encoding="utf-8") as fh:
                documents = [Document.from_json(json.loads(line)) for line in fh]
            # The vector matrices are memory-mapped (start-up does not read them); the offset
            # tables are small and read on every answer, so they are loaded: indexing a memmap
            # costs microseconds of Python per access, and an answer makes hundreds.
            arrays = {
                name: np.load(
                    folder / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False
                )
                for name in ("passage_vectors", "sentence_vectors", "token_vectors")
            }
            arrays.update(
                (name, np.load(folder / f"{name}.npy", allow_pickle=False))
                for name in (
                    "passages",
                    "sentences",
                    "token_scales",
                    "token_ranges",
                    "token_rotation",
                )
            )
            lexical = LexicalIndex.load(folder / "bm25", arrays["passages"].shape[0])
        except IndexCorruptError:
            raise
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(
                f"The index in {index_dir} is damaged ({type(exc).__name__}: {exc})"
            ) from exc
        index = cls(
            params,
            documents,
            arrays["passages"],
            arrays["sentences"],
            arrays["passage_vectors"],
            arrays["sentence_vectors"],
            lexical,
            manifest.get("skipped", {}),
            token_vectors=arrays["token_vectors"],
            token_scales=arrays["token_scales"],
            token_ranges=arrays["token_ranges"],
            token_rotation=arrays["token_rotation"],
        )
        index.folder, index.manifest = folder, manifest
        index._check_shapes(index_dir)
        return index

    def _check_shapes(self, index_dir: Path) -> None:
        n, m, d = len(self), self.sentences.shape[0], self.params.dim
        problems = []
        if self.passage_vectors.shape != (n, d):
            problems.append(f"passage_vectors is {self.passage_vectors.shape}, expected {(n, d)}")
        # (0, d) sentence vectors: sentence-level scoring off (large corpora), not damage.
        if self.sentence_vectors.shape not in ((m, d), (0, d)):
            problems.append(f"sentence_vectors is {self.sentence_vectors.shape}, expected {(m, d)}")
        if self.passages.ndim != 2 or self.passages.shape[1] != 5:
            problems.append("passages table has the wrong shape")
        if self.params.token_vectors:
            ranges, t = self.token_ranges, self.token_vectors.shape[0]
            if ranges.shape != (n, 2) or (n and int(ranges[-1, 1]) != t):
                problems.append(f"token_ranges is {ranges.shape}, expected {(n, 2)} ending at {t}")
            width = packed_width(d)
            if self.token_vectors.shape[1:] != (width,):
                problems.append(
                    f"token_vectors is {self.token_vectors.shape}, expected (T, {width})"
                )
            if self.token_scales.shape != (t,):
                problems.append(f"token_scales is {self.token_scales.shape}, expected ({t},)")
            if self.token_rotation.shape != (d, d):
                problems.append(f"token_rotation is {self.token_rotation.shape}, expected {(d, d)}")
        if problems:
            raise IndexCorruptError(f"The index in {index_dir} is damaged: {'; '.join(problems)}")


# --------------------------------------------------------------------- building


@dataclass
class BuildReport:
    """What an index build did."""

    embedded_documents: list[str]
    reused_documents: list[str]
    removed_documents: list[str]
    embedded_passages: int
    embedded_sentences: int


def build_index(
    documents: Sequence[Document],
    embedder: Embedder,
    chunking: ChunkingSettings,
    *,
    previous: Index | None = None,
    progress: bool = False,
    skipped: dict[str, str] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> tuple[Index, BuildReport]:
    """Chunk and embed documents, reusing rows of unchanged documents from previous;
    on_plan(passages, sentences) hears how many will be embedded, before embedding starts."""
    params = params_for(embedder, chunking)
    reusable: dict[tuple[str, str, str], int] = {}
    rotation = word_piece_rotation(params.dim)
    if previous is not None and previous.params == params:
        # The title is embedded with each passage, so a new title means new vectors.
        reusable = {(d.source, d.sha256, d.title): i for i, d in enumerate(previous.documents)}
        rotation = np.asarray(previous.token_rotation)  # reused word pieces were turned so

    budget = params.max_tokens - 2  # [CLS] and [SEP]
    # Per document: passage rows, sentence rows, and (when reused) their vectors and tokens.
    doc_rows: list[tuple[np.ndarray, np.ndarray, Any, Any, list[Quantized] | None]] = []
    to_embed_p: list[str] = []
    to_embed_s: list[str] = []
    # Per passage to embed: its sentences' spans in the embedded text and their rows in to_embed_s.
    p_spans: list[list[tuple[int, int]]] = []
    p_span_rows: list[list[int]] = []
    embedded, reused = [], []
    for new_i, doc in enumerate(documents):
        old_i = reusable.get((doc.source, doc.sha256, doc.title))
        if old_i is not None and previous is not None:
            p_mask = np.asarray(previous.passages[:, 0]) == old_i
            s_mask = np.asarray(previous.sentences[:, 0]) == old_i
            p_rows = np.array(previous.passages[p_mask])
            s_rows = np.array(previous.sentences[s_mask])
            s_base = int(np.flatnonzero(s_mask)[0]) if s_mask.any() else 0
            p_rows[:, 3:] -= s_base
            old_tokens = (
                [
                    (np.array(previous.token_vectors[a:b]), np.array(previous.token_scales[a:b]))
                    for a, b in previous.token_ranges[p_mask]
                ]
                if params.token_vectors
                else None
            )
            doc_rows.append(
                (
                    p_rows,
                    s_rows,
                    np.array(previous.passage_vectors[p_mask]),
                    np.array(previous.sentence_vectors[s_mask]),
                    old_tokens,
                )
            )
            reused.append(doc.source)
            continue
        title_tokens = embedder.count_tokens([doc.title])[0] + 1 if chunking.embed_titles else 0
        passages = chunk_document(
            new_i,
            doc,
            embedder.count_tokens,
            budget=budget,
            target=chunking.target_tokens,
            overlap=chunking.overlap_sentences,
            title_tokens=title_tokens,
        )
        spans: dict[tuple[int, int], int] = {}
        for p in passages:
            for s in p.sentences:
                spans.setdefault((s.start, s.end), len(spans))
        s_rows = np.array([[new_i, a, b] for (a, b) in spans], dtype=np.int64).reshape(-1, 3)
        p_rows = np.array(
            [
                [
                    new_i,
                    p.start,
                    p.end,
                    spans[(p.sentences[0].start, p.sentences[0].end)],
                    spans[(p.sentences[-1].start, p.sentences[-1].end)] + 1,
                ]
                for p in passages
            ],
            dtype=np.int64,
        ).reshape(-1, 5)
        lead = len(doc.title) + 1 if chunking.embed_titles else 0  # the "title\n" prefix
        for p in passages:
            body = doc.text[p.start : p.end]
            to_embed_p.append(f"{doc.title}\n{body}" if chunking.embed_titles else body)
            shift = p.start - lead
            p_spans.append([(s.start - shift, s.end - shift) for s in p.sentences])
            p_span_rows.append([len(to_embed_s) + spans[(s.start, s.end)] for s in p.sentences])
        to_embed_s.extend(doc.text[a:b] for (a, b) in spans)
        doc_rows.append((p_rows, s_rows, None, None, None))
        embedded.append(doc.source)

    if progress and (to_embed_p or to_embed_s):
        log.info("Embedding %d passages and %d sentences", len(to_embed_p), len(to_embed_s))
    if on_plan is not None:
        on_plan(len(to_embed_p), len(to_embed_s))
    new_p = new_s = None
    new_t: list[Quantized] | None = None
    if to_embed_p and isinstance(embedder, SpanEmbedder):
        # Sentences cost no model call of their own: pooled from the passages' pass.
        new_p, new_s, new_t = _embed_pooled(
            embedder,
            to_embed_p,
            (p_spans, p_span_rows, len(to_embed_s)),
            rotation=rotation if params.token_vectors else None,
            progress=progress,
        )
    elif to_embed_p and params.token_vectors:
        # One pass of the model gives the passage vectors and every word piece's vector. In
        # slices, quantized as they come: float word pieces of a whole corpus would not fit.
        assert isinstance(embedder, TokenEmbedder)
        parts, new_t = [], []
        for lo in range(0, len(to_embed_p), TOKEN_SLICE):
            vecs, pieces = embedder.embed_tokens(
                to_embed_p[lo : lo + TOKEN_SLICE], progress=progress
            )
            parts.append(vecs)
            new_t.extend(quantize_rows(t, rotation) for t in pieces)
        new_p = np.concatenate(parts)
    elif to_embed_p:
        new_p = embedder.embed(to_embed_p, progress=progress)
    if new_s is None and to_embed_s:
        new_s = embedder.embed(to_embed_s, progress=progress)

    passages_out, sentences_out, pv_out, sv_out = [], [], [], []
    tokens_out: list[Quantized] = []
    p_cursor = s_cursor = 0
    sentence_base = 0
    for new_i, (p_rows, s_rows, pv, sv, toks) in enumerate(doc_rows):
        p_rows = p_rows.copy()
        s_rows = s_rows.copy()
        p_rows[:, 0] = new_i
        s_rows[:, 0] = new_i
        p_rows[:, 3:] += sentence_base
        sentence_base += s_rows.shape[0]
        if pv is None:
            assert new_p is not None and new_s is not None
            pv = new_p[p_cursor : p_cursor + p_rows.shape[0]]
            sv = new_s[s_cursor : s_cursor + s_rows.shape[0]]
            if new_t is not None:
                toks = new_t[p_cursor : p_cursor + p_rows.shape[0]]
            p_cursor += p_rows.shape[0]
            s_cursor += s_rows.shape[0]
        passages_out.append(p_rows)
        sentences_out.append(s_rows)
        pv_out.append(np.asarray(pv, dtype=np.float32))
        sv_out.append(np.asarray(sv, dtype=np.float32))
        tokens_out.extend(toks or [])

    dim = params.dim
    token_vectors = token_scales = token_ranges = None
    if params.token_vectors:
        ends = np.cumsum([t[0].shape[0] for t in tokens_out], dtype=np.int64)
        token_ranges = np.stack([ends - np.diff(ends, prepend=0), ends], axis=1).reshape(-1, 2)
        bits = [t[0] for t in tokens_out] or [np.zeros((0, packed_width(dim)), np.uint8)]
        token_vectors = np.concatenate(bits)
        token_scales = np.concatenate([t[1] for t in tokens_out] or [np.zeros(0, np.float16)])
        stored = token_vectors.nbytes + token_scales.nbytes
        if stored > TOKEN_WARN_BYTES:
            log.warning(
                "Word-piece vectors take %.1f GB for %d passages; to leave them out (and skip "
                "re-ranking), set chunking.token_vectors = false",
                stored / 1e9,
                sum(len(r[0]) for r in doc_rows),
            )

    index = Index(
        params,
        list(documents),
        np.concatenate(passages_out) if passages_out else np.zeros((0, 5), np.int64),
        np.concatenate(sentences_out) if sentences_out else np.zeros((0, 3), np.int64),
        np.concatenate(pv_out) if pv_out else np.zeros((0, dim), np.float32),
        np.concatenate(sv_out) if sv_out else np.zeros((0, dim), np.float32),
        skipped=skipped,
        token_vectors=token_vectors,
        token_scales=token_scales,
        token_ranges=token_ranges,
        token_rotation=rotation,
    )
    removed = []
    if previous is not None:
        current = {d.source for d in documents}
        removed = [d.source for d in previous.documents if d.source not in current]
    report = BuildReport(embedded, reused, removed, len(to_embed_p), len(to_embed_s))
    return index, report


def _embed_pooled(
    embedder: SpanEmbedder,
    texts: list[str],
    layout: tuple[list[list[tuple[int, int]]], list[list[int]], int],
    *,
    rotation: np.ndarray | None,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, list[Quantized] | None]:
    """Passage vectors, sentence vectors pooled from the passages' word pieces, and (when kept)
    the quantized word pieces (turned by rotation; None: not kept): one model pass over the
    passages, none over the sentences. layout is each text's sentence spans, their sentence
    rows, and the number of sentences.

    A sentence in two passages (the overlap) gets the mean of its two pooled vectors. Word
    pieces in context carry their passage's topic, which every sentence of the passage then
    shares; CONTEXT_WEIGHT times the passage vector is taken off to tell them apart again.
    """
    spans, span_rows, sentences = layout
    parts: list[np.ndarray] = []
    tokens: list[Quantized] | None = [] if rotation is not None else None
    summed = np.zeros((sentences, embedder.dim), dtype=np.float32)
    context = np.zeros((sentences, embedder.dim), dtype=np.float32)
    seen = np.zeros(sentences, dtype=np.float32)
    for lo in range(0, len(texts), TOKEN_SLICE):
        hi = lo + TOKEN_SLICE
        vecs, pieces, pooled = embedder.embed_spans(texts[lo:hi], spans[lo:hi], progress=progress)
        parts.append(vecs)
        if tokens is not None and rotation is not None:
            tokens.extend(quantize_rows(t, rotation) for t in pieces)
        for rows, vectors, passage in zip(span_rows[lo:hi], pooled, vecs, strict=True):
            np.add.at(summed, rows, vectors)
            np.add.at(context, rows, passage)
            np.add.at(seen, rows, 1.0)
    context /= np.maximum(seen, 1.0)[:, None]
    sentence_vectors = normalise(normalise(summed) - CONTEXT_WEIGHT * context)
    return np.concatenate(parts), sentence_vectors, tokens


# --------------------------------------------------------------------- staleness


def stale_reasons(index: Index, expected: IndexParams | None, files: dict[str, str]) -> list[str]:
    """Why index no longer matches the seeds (files: source -> sha256) and settings."""
    reasons: list[str] = []
    if expected is not None and index.params != expected:
        old, new = asdict(index.params), asdict(expected)
        changed = [f"{k} {old[k]!r} -> {new[k]!r}" for k in old if old[k] != new[k]]
        reasons.append("settings changed: " + ", ".join(changed))
    indexed = {d.source: d.sha256 for d in index.documents} | index.skipped
    for source, digest in sorted(files.items()):
        if source not in indexed:
            reasons.append(f"new file {source}")
        elif indexed[source] != digest:
            reasons.append(f"changed file {source}")
    reasons.extend(f"removed file {s}" for s in sorted(set(indexed) - set(files)))
    return reasons


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Some filesystems refuse fsync on folders; the rename is atomic all the same.
    with contextlib.suppress(OSError):
        _fsync(path)
