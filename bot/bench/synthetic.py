"""Synthetic indexes of n passages made of real SQuAD-dev sentences, cached under
cache_dir/bench, and the ONNX query encoder they are searched with."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.bench.data import sentence_pool
from bot.config import RetrievalSettings, Settings
from bot.errors import BotError

if TYPE_CHECKING:
    from bot.ingest.corpus import Document

MODEL = "all-MiniLM-L6-v2"
# Synthetic indexes up to this size carry token vectors, as a real index does by default;
# the figures of the other steps at larger sizes leave them out (the late_interaction step
# keeps them at every size).
TOKENS_UP_TO = 10_000
# Rows of synthetic token codes generated and written at a time (they go straight to disk).
TOKEN_BLOCK = 1 << 22
# Passages per synthetic document.
PER_DOC = 10


def query_encoder(settings: Settings) -> Any:
    """The ONNX embedder of the seeds index (exported into a temporary folder if absent)."""
    from bot.search.onnx_embedder import OnnxEmbedder
    from bot.search.store import Index

    index = Index.load(settings.index_dir)
    if index.query_encoder is None or index.folder is None:
        raise SystemExit("The seeds index has no ONNX query encoder; run: python -m bot index")
    return OnnxEmbedder(index.folder, index.query_encoder)


def _pool_vectors(settings: Settings, encoder: Any, pool: list[str]) -> np.ndarray:
    cache = settings.cache_dir / "bench" / f"pool-{len(pool)}.npy"
    if cache.exists():
        cached: np.ndarray = np.load(cache)
        return cached
    vecs: np.ndarray = encoder.embed(pool)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vecs)
    return vecs


def synthetic_index(
    settings: Settings,
    encoder: Any,
    data: Path,
    n: int,
    *,
    sentence_vectors: bool,
    ann: bool,
    tokens: bool | None = None,
) -> Path:
    """An index folder of n synthetic passages of data's sentences (built once, then reused
    from the cache); with token vectors when tokens says so (None: up to TOKENS_UP_TO
    passages with sentence vectors)."""
    from bot.search.quantize import fixed_rotation
    from bot.search.rows import PassageTable, SentenceTable, TokenVectors
    from bot.search.store import Index, IndexParams

    if tokens is None:
        tokens = sentence_vectors and n <= TOKENS_UP_TO
    tag = f"syn-{n}-{'s' if sentence_vectors else 'p'}{'t' if tokens else ''}"
    folder = settings.cache_dir / "bench" / tag
    if (folder / "CURRENT").exists():
        try:
            index = Index.load(folder)
            if not ann or index.ann is not None:
                return folder
        except BotError:  # an older format or a damaged cache: build it again
            pass
    pool = sentence_pool(data, 4000)
    pv = _pool_vectors(settings, encoder, pool)
    # One generator, drawn in a fixed order, so the same n always gives the same index.
    rng = np.random.default_rng(n)
    picks = rng.integers(0, len(pool), size=(n, 2))
    docs, passages, sentences = _layout(pool, picks)
    vectors = _passage_vectors(pv, picks, rng)
    s_vectors = (
        pv[picks.reshape(-1)] if sentence_vectors else np.zeros((0, pv.shape[1]), np.float32)
    )
    token_rows = None
    scratch = folder.parent / f".{tag}-tokens.npy"
    if tokens:
        token_rows = TokenVectors(
            *_token_rows(pool, picks, pv.shape[1], rng, scratch), fixed_rotation(pv.shape[1])
        )
    params = IndexParams(MODEL, pv.shape[1], 256, 160, 0, True, tokens)
    index = Index(
        params,
        docs,
        PassageTable(passages),
        SentenceTable(sentences),
        vectors,
        s_vectors,
        token_rows,
    )
    index.save(folder, ann=ann)
    del index, token_rows  # they hold the memory map of scratch, closed before the file goes
    scratch.unlink(missing_ok=True)
    return folder


def _layout(pool: list[str], picks: np.ndarray) -> tuple[list[Document], np.ndarray, np.ndarray]:
    """The documents (PER_DOC passages each, the passages' sentences joined by spaces), the
    passage rows (document, start, end, first and end sentence) and the sentence rows
    (document, start, end) of the passages whose two sentences picks names."""
    from bot.ingest.corpus import Document

    n = len(picks)
    docs, passages, sentences = [], np.zeros((n, 5), np.int64), np.zeros((2 * n, 3), np.int64)
    for d in range(0, n, PER_DOC):
        parts, pos = [], 0
        for i in range(d, min(n, d + PER_DOC)):
            start = pos
            for j, s in enumerate(picks[i]):
                text = pool[s]
                sentences[2 * i + j] = (d // PER_DOC, pos, pos + len(text))
                parts.append(text)
                pos += len(text) + 1
            passages[i] = (d // PER_DOC, start, pos - 1, 2 * i, 2 * i + 2)
        text = " ".join(parts)
        docs.append(
            Document(f"syn/{d // PER_DOC}.txt", f"Synthetic {d // PER_DOC}", text, f"{d:064x}")
        )
    return docs, passages, sentences


def _passage_vectors(pv: np.ndarray, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each passage's vector: its two sentences' summed, plus N(0, 0.02²) noise, normalised."""
    n = len(picks)
    vectors = np.empty((n, pv.shape[1]), np.float32)
    for lo in range(0, n, 1 << 16):
        p = picks[lo : lo + (1 << 16)]
        v = (
            pv[p[:, 0]]
            + pv[p[:, 1]]
            + 0.02 * rng.standard_normal((len(p), pv.shape[1]), dtype=np.float32)
        )
        vectors[lo : lo + len(p)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return vectors


def _token_rows(
    pool: list[str], picks: np.ndarray, dim: int, rng: np.random.Generator, scratch: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token codes (memory-mapped on scratch), scales and per-passage ranges for
    late-interaction re-ranking.

    Their values only need to be unit rows; their number (about one per 4.5 characters, as
    for English) sets the cost. The codes of random unit rows (quantize_rows) are random bits
    with a scale near sqrt(pi / (2 * dim)), so those are written directly, a block at a time.
    """
    from bot.search.quantize import packed_width

    chars = np.array([len(t) for t in pool])
    counts = (chars[picks[:, 0]] + chars[picks[:, 1]]) * 2 // 9 + 2
    ends = np.cumsum(counts)
    token_ranges = np.stack([ends - counts, ends], axis=1)
    total = int(ends[-1])
    scratch.parent.mkdir(parents=True, exist_ok=True)
    token_vectors = np.lib.format.open_memmap(
        scratch, mode="w+", dtype=np.uint8, shape=(total, packed_width(dim))
    )
    for lo in range(0, total, TOKEN_BLOCK):
        hi = min(total, lo + TOKEN_BLOCK)
        token_vectors[lo:hi] = rng.integers(0, 256, (hi - lo, packed_width(dim)), np.uint8)
    scale = np.sqrt(np.pi / (2 * dim))
    token_scales = (scale * (1 + 0.05 * rng.standard_normal(total))).astype(np.float16)
    return token_vectors, token_scales, token_ranges


def answerer(folder: Path, encoder: Any, retrieval: RetrievalSettings, settings: Settings) -> Any:
    """An Answerer over the index in folder, its questions embedded by encoder."""
    from bot.answer.compose import Answerer
    from bot.search.store import Index

    return Answerer(Index.load(folder), encoder, retrieval, settings.answer)
