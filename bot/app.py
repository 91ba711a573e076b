"""Wiring shared by the front ends: build the index and open it with an Answerer.

Every front end opens the index through open_index and updates it through rebuild, which
returns the index it wrote: nothing is read back from disk after a build.
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.answer.compose import Answerer
from bot.answer.gaps import GapGroup, GapsLog, find_gaps, read_gaps
from bot.answer.verify import load_verifier
from bot.config import Settings
from bot.errors import (
    ConfigError,
    IndexCorruptError,
    IndexMissingError,
    IndexOutdatedError,
    IndexReadOnlyError,
)
from bot.ingest.corpus import Selection, Snapshot, read_corpus, take_snapshot
from bot.search.ann import wants_ann
from bot.search.build import BuildReport, build_index
from bot.search.embedder import Embedder, SentenceTransformerEmbedder
from bot.search.lock import unwritable, write_lock
from bot.search.onnx_embedder import GRAPHS, OnnxEmbedder, export_query_encoder
from bot.search.parts import QueryEncoderPart
from bot.search.progress import SLICE, BuildProgress, ProgressEmbedder
from bot.search.staleness import Staleness, StaleReason, describe, stale_reasons
from bot.search.store import Index, current_version

log = logging.getLogger(__name__)

# Texts per model call in a build that may be stopped (a background update): a front end that
# quits waits at most for one such call (a second or two on a laptop CPU).
STOPPABLE_SLICE = 64


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (loaded lazily on first use; builds on the CPU go
    through its cached ONNX export when there is one)."""
    return SentenceTransformerEmbedder(
        settings.model, device=settings.device, graphs=settings.cache_dir / GRAPHS
    )


def keeps_token_vectors(settings: Settings, embedder: Embedder) -> bool:
    """Whether a build with this embedder and these settings keeps token vectors. A method
    lookup, not isinstance(TokenEmbedder): the protocol check reads embedder.dim, which loads
    the model."""
    return settings.chunking.token_vectors and callable(getattr(embedder, "embed_tokens", None))


def staleness(
    index: Index, settings: Settings, embedder: Embedder, files: dict[str, str]
) -> list[StaleReason]:
    """Why index differs from the documents (files: source -> sha256, as take_snapshot gives
    them) and from what a build with these settings and this embedder would make."""
    return stale_reasons(
        index,
        files,
        model=embedder.name,
        chunking=settings.chunking,
        token_vectors=keeps_token_vectors(settings, embedder),
    )


def rebuild(
    settings: Settings,
    embedder: Embedder,
    *,
    previous: Index | None = None,
    snapshot: Snapshot | None = None,
    full: bool = False,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> tuple[Index, BuildReport]:
    """Bring the index up to date with the documents and settings; return the index now
    current (saved, ready to answer from) and what the build did.

    Only new and changed documents are embedded unless full. previous is the index the caller
    answers from: while it is still the current version on disk, it is used as is, so the
    index is read from disk at most once; snapshot, the documents as the caller just hashed
    them against previous (take_snapshot with its hashes), spares hashing them again. Writes
    nothing when the index is already current (a
    read-only folder then works); else holds the write lock while it builds and saves. Once
    stop is set, embedding ends between slices with bot.search.progress.Cancelled.
    """
    if settings.chunking.target_tokens > embedder.max_tokens:
        raise ConfigError(
            f"chunking.target_tokens must be at most the model's window of "
            f"{embedder.max_tokens} tokens, not {settings.chunking.target_tokens}"
        )
    seen = current_version(settings.index_dir)
    on_disk, snapshot, reasons = (
        (None, None, []) if full else _current(settings, embedder, previous, seen, snapshot)
    )
    if on_disk is not None and not reasons:
        return on_disk, BuildReport.nothing(on_disk)
    with write_lock(settings.index_dir):
        if not full and current_version(settings.index_dir) != seen:
            # Another process wrote a version while this one waited for the lock.
            seen = current_version(settings.index_dir)
            on_disk, snapshot, reasons = _current(settings, embedder, None, seen)
            if on_disk is not None and not reasons:
                return on_disk, BuildReport.nothing(on_disk)
        readers_changed = any(r.kind is Staleness.READERS for r in reasons)
        index, report = _build(
            settings, embedder, on_disk, snapshot, progress, stop, reuse=not readers_changed
        )
        try:
            index.save(
                settings.index_dir,
                vector_dtype=settings.retrieval.storage_dtype,
                query_encoder=lambda folder: _export_encoder(embedder, folder, settings),
                ann=wants_ann(len(index), settings.retrieval),
            )
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise unwritable(settings.index_dir, exc) from exc
            raise
    return index, report


def _current(
    settings: Settings,
    embedder: Embedder,
    previous: Index | None,
    version: str | None,
    snapshot: Snapshot | None = None,
) -> tuple[Index | None, Snapshot | None, list[StaleReason]]:
    """The index at version (previous when that is its version, else read from disk; None
    when there is none to build on), a snapshot of the documents (snapshot, taken against
    previous, when previous is that index), and why the index differs from them and from
    the settings (empty: current)."""
    index = previous
    if index is None or index.version != version:
        snapshot = None  # taken against another index: its kept bytes are not the changes
        try:
            index = Index.load(settings.index_dir)
        except (IndexMissingError, IndexOutdatedError, IndexCorruptError) as exc:
            _log_building(exc, settings)
            return None, None, []
    if snapshot is None:
        snapshot = snapshot_against(index, settings)
    return index, snapshot, staleness(index, settings, embedder, snapshot.files)


def snapshot_against(index: Index, settings: Settings, *, keep: bool = True) -> Snapshot:
    """The documents' hashes, with (keep) the bytes of those that differ from index's kept
    for the build (excluded files never make the index stale)."""
    return take_snapshot(
        settings.seeds_dir,
        {d.source: d.sha256 for d in index.documents} if keep else None,
        select=Selection.of(settings),
    )


def _log_building(exc: Exception, settings: Settings) -> None:
    if isinstance(exc, IndexMissingError):
        log.info("No index yet; building it from %s.", settings.seeds_dir)
    elif isinstance(exc, IndexOutdatedError | IndexCorruptError):
        log.warning("%s; rebuilding it.", exc.problem)


def _build(
    settings: Settings,
    embedder: Embedder,
    previous: Index | None,
    snapshot: Snapshot | None,
    progress: bool,
    stop: threading.Event | None,
    *,
    reuse: bool = True,
) -> tuple[Index, BuildReport]:
    """Read the documents (with reuse, only the new and changed ones: previous holds the rest)
    and build the index, reusing previous's rows of unchanged documents."""
    # One labelled bar for the whole build (files read, texts embedded), not the model's.
    bar = BuildProgress(f"Indexing {settings.seeds_dir.name}/") if progress else None
    try:
        # Costly formats are parsed in other processes while the model embeds the documents
        # already read (the build takes them as they come); else all are read first.
        stream = read_corpus(
            settings.seeds_dir,
            cache_dir=settings.cache_dir,
            on_read=bar.reading if bar else None,
            snapshot=snapshot,
            reuse=previous.documents if previous is not None and reuse else (),
            select=Selection.of(settings),
        )
        sliced: Embedder = embedder
        if bar is not None or stop is not None:
            size = SLICE if stop is None else STOPPABLE_SLICE
            sliced = ProgressEmbedder(embedder, bar, stop=stop, slice_size=size)
        return build_index(
            iter(stream) if stream.parallel else list(stream),
            sliced,
            settings.chunking,
            previous=previous,
            skipped=stream.skipped,
            on_plan=bar.plan if bar else None,
        )
    finally:
        if bar is not None:
            bar.close()


def _export_encoder(
    embedder: Embedder, folder: Path, settings: Settings
) -> QueryEncoderPart | None:
    """The ONNX query encoder written into folder; None (with a warning) when it cannot be:
    an optimisation, the index works without it."""
    try:
        return export_query_encoder(embedder, folder, settings.cache_dir)
    except Exception as exc:
        log.warning(
            "Could not export the ONNX query encoder (%s); queries will load the full model.", exc
        )
        return None


# The query encoder last opened, by the hashes of its model and tokenizer files: each index
# update writes the same export into its new version, which need not be opened again.
_ENCODER: dict[tuple[str, str], OnnxEmbedder] = {}


def query_embedder(index: Index, fallback: Embedder) -> Embedder:
    """The index's ONNX query encoder (no torch), else fallback, with a warning."""
    part = index.query_encoder
    if part is not None and index.folder is not None and part.model == index.params.model:
        key = (part.sha256, part.tokenizer_sha256)
        if key in _ENCODER:
            return _ENCODER[key]
        try:
            encoder = OnnxEmbedder(index.folder, part)
            _ENCODER.clear()
            _ENCODER[key] = encoder
            return encoder
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


@dataclass
class LoadedIndex:
    """An index with the Answerer over it and the embedder its questions go through."""

    index: Index
    answerer: Answerer
    queries: Embedder


def answer_from(index: Index, embedder: Embedder, settings: Settings) -> LoadedIndex:
    """index ready to answer: its questions go through the index's ONNX encoder when it has
    one (embedder, the passage model, is the fallback)."""
    queries = query_embedder(index, embedder)
    answerer = Answerer(
        index,
        queries,
        settings.retrieval,
        settings.answer,
        links=settings.sources,
        verifier=load_verifier() if settings.answer.verifier else None,
        scopes=settings.scopes,
    )
    return LoadedIndex(index, answerer, queries)


def open_index(
    settings: Settings, embedder: Embedder, *, update: bool, progress: bool = True
) -> tuple[LoadedIndex, list[StaleReason]]:
    """Open the index to answer from: the one way every front end does it.

    Built first when there is none (or it was written by an older version, or is damaged).
    A stale index is brought up to date first with update (a read-only folder: answered from
    as it is, with a warning), else returned as it is with the reasons it is stale (empty:
    current), for the caller to update in the background or to report.
    """
    try:
        index = Index.load(settings.index_dir)
    except (IndexMissingError, IndexOutdatedError, IndexCorruptError) as exc:
        _log_building(exc, settings)
        index, _ = rebuild(settings, embedder, full=True, progress=progress)
        return answer_from(index, embedder, settings), []
    snapshot = (
        snapshot_against(index, settings, keep=update) if settings.seeds_dir.is_dir() else None
    )
    reasons = staleness(index, settings, embedder, snapshot.files if snapshot else {})
    if reasons and update:
        log.warning("The index is out of date (%s); updating it.", describe(reasons))
        try:
            # The documents are hashed once: the update starts from this snapshot.
            index, _ = rebuild(
                settings, embedder, previous=index, snapshot=snapshot, progress=progress
            )
            reasons = []
        except IndexReadOnlyError as exc:  # answer from the index that can be read
            log.warning("%s; answering from the index as it is.", exc)
    return answer_from(index, embedder, settings), reasons


def gaps_report(
    settings: Settings, *, since: datetime | None = None, distance: float | None = None
) -> tuple[list[GapGroup], int, dict[str, str]]:
    """The gaps log (declined questions, 👎 votes) grouped by meaning, largest group first,
    embedded by the index's own query encoder; how many logged questions it held; and the
    documents' texts by source (to say where a closest passage sits)."""
    log_file = GapsLog(
        Path(settings.discord.gaps_file), retention_days=settings.discord.gaps_retention_days
    )
    log_file.prune()  # past discord.gaps_retention_days: gone from the file, not only hidden
    gaps = read_gaps(log_file.path, since, retention_days=log_file.retention_days)
    if not gaps:
        return [], 0, {}
    loaded, _ = open_index(settings, make_embedder(settings), update=True)
    d = distance if distance is not None else settings.discord.gaps_distance
    texts = {doc.source: doc.text for doc in loaded.index.documents}
    return find_gaps(loaded.answerer, gaps, distance=d), len(gaps), texts
