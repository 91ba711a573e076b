"""Late interaction at scale: token vectors on disk, re-ranking latency, peak memory."""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from pathlib import Path
from typing import Any

from bot.bench.memory import peak_rss
from bot.bench.stats import summary, timed
from bot.bench.synthetic import answerer, synthetic_index
from bot.config import RetrievalSettings, Settings
from bot.errors import BotError


def late_interaction(
    settings: Settings,
    encoder: Any,
    data: Path,
    sizes: list[int],
    questions: list[str],
    *,
    ann: bool = True,
) -> dict[str, Any]:
    """Late interaction at scale: the n-passage synthetic index with token vectors (1 bit
    a dimension, quantize_rows), its size on disk, ask() latency with re-ranking, exact and
    (with ann: the graph takes ~30 min at 1M on 2 cores) usearch, and the peak RSS of a fresh
    process answering with each."""
    from bot.search.store import Index

    out: dict[str, Any] = {}
    for n in sizes:
        t = time.perf_counter()
        folder = synthetic_index(
            settings, encoder, data, n, sentence_vectors=n < 1_000_000, ann=ann, tokens=True
        )
        made_s = time.perf_counter() - t
        index = Index.load(folder)
        assert index.folder is not None
        files = {p.name: p.stat().st_size for p in index.folder.rglob("*") if p.is_file()}
        pieces = sum(files[f"token_{name}.npy"] for name in ("vectors", "scales", "ranges"))
        row: dict[str, Any] = {
            "passages": n,
            "sentence_vectors": n < 1_000_000,
            "tokens": len(index.tokens),
            "build_or_cache_s": made_s,
            "disk_bytes": sum(files.values()),
            "token_bytes": pieces,
            "token_bytes_per_passage": pieces / n,
            "passage_vector_bytes": files["passage_vectors.npy"],
            "ann_bytes": files.get(index.ann.file, 0) if index.ann is not None else 0,
        }
        modes = {"exact": RetrievalSettings(backend="exact", approximate_from=10**12)}
        if index.ann is not None:
            modes["usearch"] = RetrievalSettings(backend="usearch")
        del index
        row |= _latencies(settings, encoder, folder, modes, questions)
        row |= peak_rss(settings, data, n, folder, backends=tuple(modes))
        out[str(n)] = row
    return out


def _latencies(
    settings: Settings,
    encoder: Any,
    folder: Path,
    modes: dict[str, RetrievalSettings],
    questions: list[str],
) -> dict[str, Any]:
    """ask() latency for each retrieval mode, with re-ranking by tokens and without."""
    # The same index and run without re-ranking: what the tokens cost, as a ratio
    # that the machine's load does not move as much as the absolute times.
    plain = {f"{mode}_without_tokens": r for mode, r in modes.items()}
    plain = {m: dataclasses.replace(r, token_weight=0.0) for m, r in plain.items()}
    row: dict[str, Any] = {}
    for mode, retrieval in (modes | plain).items():
        asker = answerer(folder, encoder, retrieval, settings)
        if asker.retriever.uses_tokens != (mode in modes):
            raise BotError(f"{mode}: re-ranking by tokens is not as intended")
        for q in questions[:3]:
            asker.ask(q)
        ms = [1000 * timed(partial(asker.ask, q)) for q in questions]
        row[f"{mode}_ms"] = summary(ms)
        del asker
    for mode in modes:
        row[f"{mode}_over_without_tokens"] = (
            row[f"{mode}_ms"]["median"] / row[f"{mode}_without_tokens_ms"]["median"]
        )
    return row
