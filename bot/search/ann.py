"""Dense search primitives: exact (matrix-vector on the memory-mapped matrix) and approximate
(a usearch HNSW graph saved beside it, chosen by RetrievalSettings.backend / approximate_from),
and the row arithmetic both share. bot.search.dense scores an index's passages with them.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import RetrievalSettings
from bot.search.parts import AnnPart

log = logging.getLogger(__name__)

ANN_FILE = "passages.usearch"
FLOOR = np.float32(-2.0)  # below any cosine: "not a candidate"
BLOCK = 1 << 16  # rows per block when upcasting float16 storage
# Measured at 1M passages (200 questions, recall@10 against exact): M=16/ef_add=128 reached
# only 0.9795 at ef=512 (6 ms); M=32/ef_add=200 gives 0.9885 at ef=128 and 0.9905 at ef=256,
# at the price of a slower build (28 min for 1M on 2 busy cores). ef=256 took 2.6 ms (p50) at
# one moment and 5.2 ms minutes later on this shared machine; ef=128 took 1.4 and 2.9 ms, so
# it keeps the 5 ms budget with recall to spare. See BENCHMARKS.md.
CONNECTIVITY = 32
EXPANSION_ADD = 200
EXPANSION_SEARCH = 128
# Candidates taken from the graph per result wanted; 1, as float16 reordering was measured nil.
OVERSAMPLE = 1


def matvec(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """matrix @ q as float32; float16 storage is upcast block by block, never all at once."""
    if matrix.dtype == np.float32:
        return np.asarray(matrix @ q, dtype=np.float32)
    q = np.asarray(q, dtype=np.float32)
    out = np.empty(matrix.shape[0], dtype=np.float32)
    for lo in range(0, matrix.shape[0], BLOCK):
        out[lo : lo + BLOCK] = np.asarray(matrix[lo : lo + BLOCK], dtype=np.float32) @ q
    return out


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (argpartition, then sort the k)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(scores.shape[0])
    return part[np.argsort(-scores[part], kind="stable")]


def segment_max(values: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Max of values over each [lo, hi) row of ranges (ranges may overlap; none is empty).

    values is one score per sentence, or a matrix of them (one row per question): the max is
    taken along the last axis.
    """
    if ranges.shape[0] == 0:
        return np.zeros((*values.shape[:-1], 0), dtype=values.dtype)
    pad = np.zeros((*values.shape[:-1], 1), dtype=values.dtype)
    padded = np.concatenate([values, pad], axis=-1)
    bounds = np.asarray(ranges, dtype=np.int64).reshape(-1)
    return np.maximum.reduceat(padded, bounds, axis=-1)[..., ::2]


def range_rows(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows named by [lo, hi) ranges, in order, and each range's bounds within them.

    For scoring only some passages: gather their sentence (or token) rows with the first,
    then take segment_max over the second.
    """
    ranges = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    lengths = ranges[:, 1] - ranges[:, 0]
    ends = np.cumsum(lengths)
    starts = ends - lengths
    rows = np.repeat(ranges[:, 0] - starts, lengths) + np.arange(int(ends[-1]) if len(ends) else 0)
    return rows, np.stack([starts, ends], axis=1)


def exact_search(matrix: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of matrix with the highest dot product with q: (ids, scores), best first.

    Not top_k: partitioning the scores as they are, rather than their negation, saves a pass
    over all n of them (1.6% at 1M, measured), and this is the path benchmarked against the
    bare matrix-vector bound. fuse() keeps top_k, whose tie order its pool depends on.
    """
    scores = matvec(matrix, q)
    n = scores.shape[0]
    k = min(k, n)
    part = np.argpartition(scores, n - k)[n - k :] if 0 < k < n else np.arange(k)
    ids = part[np.argsort(-scores[part], kind="stable")]
    return ids, scores[ids]


def wants_ann(n: int, settings: RetrievalSettings) -> bool:
    """Whether a corpus of n passages uses the approximate index under these settings."""
    return settings.backend == "usearch" or n >= settings.approximate_from


def _usearch() -> Any:
    # onnxruntime must be loaded before usearch's extension: the other order segfaults
    # (usearch 2.26 + onnxruntime 1.31 on this platform). Both are needed at query time anyway.
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401
    from usearch import index as usearch_index

    return usearch_index


def build_ann(vectors: np.ndarray, path: Path, *, threads: int = 0) -> AnnPart:
    """Build an HNSW (cosine, f16 inside) over vectors, save it to path; return its part."""
    ui = _usearch()
    ann = ui.Index(
        ndim=vectors.shape[1],
        metric="ip",
        dtype="f16",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )
    step = 1 << 16
    for lo in range(0, vectors.shape[0], step):
        block = np.asarray(vectors[lo : lo + step], dtype=np.float32)
        ann.add(np.arange(lo, lo + block.shape[0], dtype=np.uint64), block, threads=threads)
    ann.save(str(path))
    return AnnPart(
        file=path.name,
        library="usearch",
        metric="ip",
        dtype="f16",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        rows=int(vectors.shape[0]),
    )


class AnnIndex:
    """A saved usearch index, memory-mapped (view) rather than read."""

    def __init__(self, path: Path, *, expansion_search: int = EXPANSION_SEARCH) -> None:
        ui = _usearch()
        self._index = ui.Index.restore(str(path), view=True)
        self._index.expansion_search = expansion_search

    def __len__(self) -> int:
        return len(self._index)

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        """Ids of about the k nearest rows to q (approximate)."""
        found = self._index.search(np.asarray(q, dtype=np.float32), k)
        return np.asarray(found.keys, dtype=np.int64)

    def search_many(self, queries: np.ndarray, k: int, *, threads: int = 0) -> np.ndarray:
        """(len(queries), k) ids; -1 pads rows with fewer hits."""
        found = self._index.search(np.asarray(queries, dtype=np.float32), k, threads=threads)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(len(queries), -1)
        counts = np.asarray(found.counts).reshape(-1)
        for row, count in enumerate(counts):
            keys[row, count:] = -1
        return keys


def approximate_search(
    matrix: np.ndarray, ann: AnnIndex, q: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ANN's candidates re-scored exactly from the matrix: the k best (ids, scores).

    The graph stores half-precision vectors, so near-ties among its top k can come out in the
    wrong order; asking it for OVERSAMPLE times k and re-scoring in float32 repairs that for
    almost nothing (the beam is already wider than k).
    """
    ids = ann.search(q, k * OVERSAMPLE)
    ids = np.sort(ids[(ids >= 0) & (ids < matrix.shape[0])])
    scores = matvec(np.asarray(matrix[ids]), q)
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order]
