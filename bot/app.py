"""Wiring shared by the front ends: open the index (rebuilding when asked) and an Answerer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.answer.compose import Answerer
from bot.answer.evaluate import (
    cached_index,
    metrics,
    passages_as_documents,
    question_encoding,
    read_jsonl,
    run_eval,
    split_of,
)
from bot.config import Settings
from bot.errors import BotError, IndexCorruptError, IndexMissingError, IndexStaleError
from bot.ingest.corpus import load_corpus, scan
from bot.search.ann import ANN_FILE, build_ann, wants_ann
from bot.search.embedder import Embedder, SentenceTransformerEmbedder
from bot.search.index import BuildReport, Index, build_index, stale_reasons
from bot.search.onnx_embedder import OnnxEmbedder, export_query_encoder

log = logging.getLogger(__name__)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (loaded lazily on first use)."""
    return SentenceTransformerEmbedder(settings.model)


def rebuild(
    settings: Settings, embedder: Embedder, *, full: bool = False, progress: bool = True
) -> BuildReport:
    """Index the seeds, re-embedding only changed documents unless full, and save atomically."""
    docs, skipped = load_corpus(settings.seeds_dir)
    previous = None
    if not full:
        try:
            previous = Index.load(settings.index_dir, mmap=False)
        except (IndexMissingError, IndexCorruptError) as exc:
            log.info("Building from scratch: %s", exc)
    index, report = build_index(
        docs, embedder, settings.chunking, previous=previous, progress=progress, skipped=skipped
    )
    index.save(
        settings.index_dir,
        extras=index_extras(index, embedder, settings),
        vector_dtype=settings.retrieval.storage_dtype,
    )
    return report


def index_extras(
    index: Index, embedder: Embedder, settings: Settings
) -> Callable[[Path], dict[str, Any]]:
    """What Index.save writes beside the matrices: the ONNX query encoder and, for large
    corpora (or backend = "usearch"), the approximate index; returns their manifest stamps."""

    def write(folder: Path) -> dict[str, Any]:
        stamps: dict[str, Any] = {}
        try:
            encoder = export_query_encoder(embedder, folder, settings.cache_dir)
        except Exception as exc:  # an optimisation; the index works without it
            log.warning(
                "Could not export the ONNX query encoder (%s); queries will load the full model.",
                exc,
            )
            encoder = None
        if encoder is not None:
            stamps["query_encoder"] = encoder
        if len(index) and wants_ann(len(index), settings.retrieval):
            log.info("Building the approximate index over %d passages", len(index))
            stamps["ann"] = build_ann(index.passage_vectors, folder / ANN_FILE)
        return stamps

    return write


def query_embedder(index: Index, fallback: Embedder) -> Embedder:
    """The ONNX query encoder stamped in the index (no torch), else fallback, with a warning."""
    stamp = index.manifest.get("query_encoder")
    if stamp and index.folder is not None and stamp.get("model") == index.params.model:
        try:
            return OnnxEmbedder(index.folder, stamp)
        except Exception as exc:  # any failure to load means: use the real model
            log.warning(
                "The ONNX query encoder is unusable (%s); loading the full model for queries.", exc
            )
    elif isinstance(fallback, SentenceTransformerEmbedder):
        log.warning(
            "This index has no ONNX query encoder, so queries load the full model (slow start). "
            "Add one with: python -m bot index"
        )
    return fallback


def check_stale(
    index: Index, settings: Settings, model_name: str, *, token_vectors: bool
) -> list[str]:
    """Why the index differs from the seeds, the model and the chunking settings (empty when
    current). Needs no model: model_name is what the configured embedder calls itself, and
    token_vectors whether a build with it would keep word-piece vectors."""
    reasons = []
    if index.params.model != model_name:
        reasons.append(
            f"model changed: index has {index.params.model!r}, settings ask for {model_name!r}"
        )
    c, built = settings.chunking, index.params
    if (built.target_tokens, built.overlap_sentences, built.embed_titles, built.token_vectors) != (
        c.target_tokens,
        c.overlap_sentences,
        c.embed_titles,
        token_vectors,
    ):
        reasons.append("chunking settings changed")
    files = scan(settings.seeds_dir) if settings.seeds_dir.is_dir() else {}
    reasons += stale_reasons(index, None, files)
    return reasons


@dataclass
class Opened:
    """An Answerer with the index and embedder it uses."""

    answerer: Answerer
    index: Index
    embedder: Embedder


def open_answerer(settings: Settings, *, auto_rebuild: bool, progress: bool = True) -> Opened:
    """Load the index for answering; if missing or stale, rebuild it or raise a clear error."""
    embedder = make_embedder(settings)
    try:
        index = Index.load(settings.index_dir)
        # getattr, not isinstance(TokenEmbedder): the protocol check reads embedder.dim, which
        # loads the model; a method lookup does not.
        tokens = settings.chunking.token_vectors and callable(
            getattr(embedder, "embed_tokens", None)
        )
        reasons = check_stale(index, settings, embedder.name, token_vectors=tokens)
    except (IndexMissingError, IndexCorruptError) as exc:
        if not auto_rebuild:
            raise
        if isinstance(exc, IndexMissingError):
            log.warning("No index yet; building it from %s.", settings.seeds_dir)
        else:
            log.warning("Rebuilding the index: %s", exc)
        rebuild(settings, embedder, full=True, progress=progress)
        index = Index.load(settings.index_dir)
        reasons = []
    if reasons:
        summary = "; ".join(reasons[:5]) + (
            f" (and {len(reasons) - 5} more)" if len(reasons) > 5 else ""
        )
        if not auto_rebuild:
            raise IndexStaleError(
                f"The index is out of date: {summary}. Update it with: python -m bot index"
            )
        log.warning("The index is out of date (%s); updating it.", summary)
        rebuild(settings, embedder, progress=progress)
        index = Index.load(settings.index_dir)
    return opened_for(index, embedder, settings)


def opened_for(index: Index, embedder: Embedder, settings: Settings) -> Opened:
    """An Answerer over index whose questions go through the index's ONNX encoder when it has
    one (embedder, the passage model, is the fallback)."""
    queries = query_embedder(index, embedder)
    return Opened(Answerer(index, queries, settings.retrieval, settings.answer), index, queries)


def evaluate_files(
    settings: Settings, passages: Path | None, questions: Path, *, split: str = "all"
) -> dict[str, Any]:
    """Evaluate questions against passages (or the seeds index) and return the metrics."""
    if not questions.exists():
        raise BotError(f"Question file {questions} does not exist")
    rows = read_jsonl(questions)
    bad = [
        i
        for i, r in enumerate(rows, 1)
        if not isinstance(r, dict) or not str(r.get("question", "")).strip()
    ]
    if bad:
        raise BotError(f"{questions}: line {bad[0]} has no question")
    if passages is not None:
        if not passages.exists():
            raise BotError(f"Passage file {passages} does not exist")
        embedder = make_embedder(settings)
        docs = passages_as_documents(read_jsonl(passages))
        index = cached_index(docs, embedder, settings, progress=True)
        answerer = Answerer(index, embedder, settings.retrieval, settings.answer)
    else:
        opened = open_answerer(settings, auto_rebuild=True)
        index, embedder, answerer = opened.index, opened.embedder, opened.answerer
    if split != "all":
        titles = {d.source: d.title for d in index.documents}
        # The split is by article title (without the benchmark's underscores), fixed in split_of.
        rows = [
            r
            for r in rows
            if r.get("gold") and split_of(titles.get(str(r["gold"][0]), "")) == split
        ]
    texts = [str(r["question"]) for r in rows]
    vecs, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    result = metrics(run_eval(answerer, rows, vecs, tokens))
    return {"split": split, **result}
