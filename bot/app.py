"""Wiring shared by the front ends: open the index (rebuilding when asked) and an Answerer."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.answer.compose import Answerer
from bot.answer.evaluate import (
    Row,
    cached_index,
    in_split,
    memo_embedder,
    metrics,
    passages_as_documents,
    question_encoding,
    read_jsonl,
    run_eval,
    write_details,
)
from bot.answer.gaps import GapGroup, find_gaps, read_gaps
from bot.config import Settings
from bot.errors import (
    BotError,
    ConfigError,
    IndexCorruptError,
    IndexMissingError,
    IndexReadOnlyError,
    IndexStaleError,
)
from bot.ingest.corpus import load_corpus, scan
from bot.search.ann import ANN_FILE, build_ann, wants_ann
from bot.search.embedder import Embedder, SentenceTransformerEmbedder
from bot.search.index import BuildReport, Index, build_index, stale_reasons
from bot.search.lock import unwritable, write_lock
from bot.search.onnx_embedder import OnnxEmbedder, export_query_encoder
from bot.search.progress import SLICE, BuildProgress, ProgressEmbedder

log = logging.getLogger(__name__)

# Texts per model call in a build that may be stopped (a background update): a front end that
# quits waits at most for one such call (a second or two on a laptop CPU).
STOPPABLE_SLICE = 64


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (loaded lazily on first use)."""
    return SentenceTransformerEmbedder(settings.model, device=settings.device)


def rebuild(
    settings: Settings,
    embedder: Embedder,
    *,
    full: bool = False,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> BuildReport:
    """Index the seeds, re-embedding only changed documents unless full, and save atomically.

    Writes nothing when the index is already current (a read-only folder then works); else
    holds the index folder's write lock (bot.search.lock) while it builds and saves. Once stop
    is set, embedding ends between slices with bot.search.progress.Cancelled (nothing saved).
    """
    if not full and (report := _unchanged(settings, embedder)) is not None:
        return report
    if settings.chunking.target_tokens > embedder.max_tokens:
        raise ConfigError(
            f"chunking.target_tokens must be at most the model's window of "
            f"{embedder.max_tokens} word pieces, not {settings.chunking.target_tokens}"
        )
    with write_lock(settings.index_dir):
        if not full and (report := _unchanged(settings, embedder)) is not None:
            return report  # another process brought it up to date while this one waited
        # One labelled bar for the whole build (files read, texts embedded), not the model's.
        bar = BuildProgress(f"Indexing {settings.seeds_dir.name}/") if progress else None
        try:
            docs, skipped = load_corpus(
                settings.seeds_dir,
                cache_dir=settings.cache_dir,
                on_read=bar.reading if bar else None,
            )
            previous = None
            if not full:
                try:
                    previous = Index.load(settings.index_dir, mmap=False)
                except IndexMissingError:
                    log.info("No index yet; building it from %s.", settings.seeds_dir)
                except IndexCorruptError as exc:  # its problem, not its advice to rebuild
                    log.info("Building from scratch: %s.", exc.problem)
            sliced: Embedder = embedder
            if bar is not None or stop is not None:
                size = SLICE if stop is None else STOPPABLE_SLICE
                sliced = ProgressEmbedder(embedder, bar, stop=stop, slice_size=size)
            index, report = build_index(
                docs,
                sliced,
                settings.chunking,
                previous=previous,
                skipped=skipped,
                on_plan=bar.plan if bar else None,
            )
        finally:
            if bar is not None:
                bar.close()
        try:
            index.save(
                settings.index_dir,
                extras=index_extras(index, embedder, settings),
                vector_dtype=settings.retrieval.storage_dtype,
            )
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise unwritable(settings.index_dir, exc) from exc
            raise
    return report


def _unchanged(settings: Settings, embedder: Embedder) -> BuildReport | None:
    """A build report of nothing to do when the index matches the seeds and settings."""
    try:
        index = Index.load(settings.index_dir)
    except (IndexMissingError, IndexCorruptError):
        return None
    tokens = settings.chunking.token_vectors and callable(getattr(embedder, "embed_tokens", None))
    if check_stale(index, settings, embedder.name, token_vectors=tokens):
        return None
    return BuildReport([], [d.source for d in index.documents], [], 0, 0)


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
    files = scan(settings.seeds_dir) if settings.seeds_dir.is_dir() else {}
    return settings_changes(index, settings, model_name, token_vectors=token_vectors) + (
        stale_reasons(index, None, files)
    )


def settings_changes(
    index: Index, settings: Settings, model_name: str, *, token_vectors: bool
) -> list[str]:
    """The changes of model or chunking settings since index was built (each re-embeds all)."""
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
            log.info("No index yet; building it from %s.", settings.seeds_dir)
        else:
            log.warning("%s; rebuilding it.", exc.problem)
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
        try:
            rebuild(settings, embedder, progress=progress)
        except IndexReadOnlyError as exc:  # answer from the index that can be read
            log.warning("%s; answering from the index as it is.", exc)
        else:
            index = Index.load(settings.index_dir)
    return opened_for(index, embedder, settings)


def opened_for(index: Index, embedder: Embedder, settings: Settings) -> Opened:
    """An Answerer over index whose questions go through the index's ONNX encoder when it has
    one (embedder, the passage model, is the fallback)."""
    queries = query_embedder(index, embedder)
    answerer = Answerer(index, queries, settings.retrieval, settings.answer, links=settings.sources)
    return Opened(answerer, index, queries)


def evaluate_files(
    settings: Settings,
    passages: Path | None,
    questions: Path,
    *,
    split: str = "all",
    docs: Path | None = None,
    details: Path | None = None,
    group_by: str | None = None,
) -> dict[str, Any]:
    """Evaluate questions against passages, a folder of documents, or the seeds index.

    With docs, the folder is read by the same readers and chunked as `index` would, and a
    question's gold names files by their path relative to the folder. With group_by, the
    metrics are also given per value of that field of the questions (e.g. a format).
    """
    if not questions.exists():
        raise BotError(f"Question file {questions} does not exist")
    if passages is not None and docs is not None:
        raise BotError("Give --passages or --docs, not both")
    rows = read_jsonl(questions)
    bad = [
        i
        for i, r in enumerate(rows, 1)
        if not isinstance(r, dict) or not str(r.get("question", "")).strip()
    ]
    if bad:
        raise BotError(f"{questions}: line {bad[0]} has no question")
    extra: dict[str, Any] = {}
    documents = None
    if passages is not None:
        if not passages.exists():
            raise BotError(f"Passage file {passages} does not exist")
        documents = passages_as_documents(read_jsonl(passages))
    elif docs is not None:
        documents, skipped = load_corpus(docs, cache_dir=settings.cache_dir)
        extra = {"documents": len(documents), "skipped_files": len(skipped)}
    if documents is not None:
        embedder = make_embedder(settings)
        if docs is not None:  # the same content read from another format: embed it once
            embedder = memo_embedder(embedder, settings.cache_dir)
        index = cached_index(documents, embedder, settings, progress=True)
        answerer = Answerer(index, embedder, settings.retrieval, settings.answer)
    else:
        opened = open_answerer(settings, auto_rebuild=True)
        index, embedder, answerer = opened.index, opened.embedder, opened.answerer
    if docs is not None:
        known = {d.source for d in index.documents}
        missing = [g for r in rows for g in r.get("gold") or [] if str(g) not in known]
        if missing:
            log.warning(
                "%d gold files are not in %s (first: %s); their questions count as misses.",
                len(missing),
                docs,
                missing[0],
            )
    if split != "all":
        rows = in_split(rows, index.documents, split)
    texts = [str(r["question"]) for r in rows]
    vecs, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    outcomes = run_eval(answerer, rows, vecs, tokens)
    if details is not None:
        write_details(details, outcomes)
    result = {"split": split, **extra, **metrics(outcomes)}
    if group_by:
        groups: dict[str, list[Row]] = {}
        for question, outcome in zip(rows, outcomes, strict=True):
            if group_by in question:
                groups.setdefault(str(question[group_by]), []).append(outcome)
        for value, members in sorted(groups.items()):
            result[f"{group_by}={value}"] = metrics(members)
    return result


def gaps_report(
    settings: Settings, *, since: datetime | None = None, distance: float | None = None
) -> tuple[list[GapGroup], int, dict[str, str]]:
    """The gaps log (declined questions, 👎 votes) grouped by meaning, largest group first,
    embedded by the index's own query encoder; how many logged questions it held; and the
    documents' texts by source (to say where a closest passage sits)."""
    gaps = read_gaps(Path(settings.discord.gaps_file), since)
    if not gaps:
        return [], 0, {}
    opened = open_answerer(settings, auto_rebuild=True)
    d = distance if distance is not None else settings.discord.gaps_distance
    texts = {doc.source: doc.text for doc in opened.index.documents}
    return find_gaps(opened.answerer, gaps, distance=d), len(gaps), texts
