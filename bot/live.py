"""Keeping the index current while answering: background updates, watching the seeds folder.

The REPL and the Discord bot answer from the index they have while an incremental update
(bot.app.rebuild: only changed files are re-embedded) runs in a worker thread, then take the new
index between questions. The update builds on the newest index this process holds, so it reads
nothing back from disk, and hands over the index it saved. Index.save writes a new version
folder and switches one pointer atomically, so a reader never sees a half-written index; the
old one stays readable (its files are memory-mapped) until the last answer using it is done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import app
from bot.config import Settings
from bot.errors import BotError, IndexReadOnlyError
from bot.search.embedder import Embedder
from bot.search.progress import Cancelled
from bot.search.staleness import Staleness, StaleReason, describe
from bot.search.store import Index

log = logging.getLogger(__name__)

# One-shot `ask` updates a stale index first only when about this many passages or fewer are to
# be embedded (a few seconds on a laptop CPU, on top of loading the model); more, and it answers
# from the index it has and says how to update.
QUICK_UPDATE_PASSAGES = 100
# Watching: changes are gathered until none came for STEP_MS (at most DEBOUNCE_MS), so a burst
# (a git pull of hundreds of files) arrives as one batch; see watchfiles.watch.
DEBOUNCE_MS = 1600
STEP_MS = 300
NAMES_SHOWN = 3
# How long closing waits for an update to stop between two model calls (seconds).
CLOSE_TIMEOUT = 30.0


@dataclass
class Update:
    """What a background update produced: a new index to answer from, or why there is none."""

    loaded: app.LoadedIndex | None
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    passages: int = 0
    seconds: float = 0.0
    error: str = ""

    def merged(self, later: Update) -> Update:
        """This update followed by later, as one (when nobody took this one in between)."""
        if later.loaded is None:  # a failure after a success: keep the success to switch to
            return self
        added = [s for s in self.added if s not in later.removed]
        return Update(
            later.loaded,
            added + [s for s in later.added if s not in added],
            [s for s in self.changed + later.changed if s not in later.removed],
            [s for s in self.removed if s not in later.added] + later.removed,
            self.passages + later.passages,
            self.seconds + later.seconds,
        )

    @property
    def message(self) -> str:
        """One line for the user: what changed and what it took."""
        if self.loaded is None:
            return (
                f"Index update failed: {self.error.rstrip('.')}. "
                "Still answering from the previous index."
            )
        parts = [
            f"{_count(len(names), 'file')} {verb}{_names(names)}"
            for names, verb in (
                (self.changed, "changed"),
                (self.added, "added"),
                (self.removed, "removed"),
            )
            if names
        ]
        what = ", ".join(parts) or "written by another process"
        return (
            f"Index updated: {what}; {_count(self.passages, 'passage')} embedded "
            f"in {self.seconds:.1f} s. Answering from the new index."
        )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return f" ({shown}{more})"


class LiveIndex:
    """The index a front end answers from, updated in a worker thread.

    request() asks for an update (a watch event, a stale index at start); requests that come
    while one runs make exactly one more run after it, so a burst becomes one or two updates.
    A finished update waits in adopt_update() for the front end to switch between questions;
    on_ready (called in the worker thread) tells a front end with its own event loop to come and
    adopt it.
    """

    def __init__(
        self,
        settings: Settings,
        loaded: app.LoadedIndex,
        *,
        embedder: Embedder | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.current = loaded
        self.on_ready = on_ready
        self._embedder = embedder  # the passage model, loaded at the first update
        # The newest index this process holds: updates build on it (an update not yet adopted
        # is newer than current).
        self._newest = loaded.index
        self._cond = threading.Condition()
        self._wanted = False
        self._busy = False
        self._closed = False
        self._ready: Update | None = None
        self._updates = 0
        self._worker: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self.watching = threading.Event()  # set once the watcher sees the folder
        self._serial = threading.Lock()  # one update at a time in this process

    # ------------------------------------------------------------------ front-end side

    def start(
        self, *, watch: bool | None = None, stale: bool = False, **watch_options: Any
    ) -> None:
        """Start the worker; request an update when stale; watch seeds_dir if asked (the
        setting by default; watch_options go to watch_folder)."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="quotebot-update", daemon=True)
            self._worker.start()
        if stale:
            self.request()
        if (self.settings.watch if watch is None else watch) and self._watcher is None:
            self._watcher = threading.Thread(
                target=watch_folder,
                args=(self.settings.seeds_dir, self.changed, self._stop),
                kwargs={"watching": self.watching, **watch_options},
                name="quotebot-watch",
                daemon=True,
            )
            self._watcher.start()

    def adopt_update(self) -> Update | None:
        """The update finished since the last call, if any, now adopted as current."""
        with self._cond:
            update, self._ready = self._ready, None
            if update is not None and update.loaded is not None:
                self.current = update.loaded
        return update

    @property
    def embedder(self) -> Embedder:
        """The passage model (loaded on first use)."""
        if self._embedder is None:
            self._embedder = app.make_embedder(self.settings)
        return self._embedder

    def request(self) -> None:
        """Ask for an update; coalesces with one already asked for or running."""
        with self._cond:
            self._wanted = True
            self._cond.notify_all()

    def changed(self, paths: Iterable[str]) -> None:
        """What the watcher calls with the paths of a batch of changes."""
        log.debug("Changes under %s: %s", self.settings.seeds_dir, sorted(paths)[:NAMES_SHOWN])
        self.request()

    def wait_idle(self, timeout: float | None = None, *, updates: int = 0) -> bool:
        """Block until at least `updates` updates have run and none is asked for or running;
        False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._updates >= updates and not (self._wanted or self._busy), timeout
            )

    @property
    def busy(self) -> bool:
        """Whether an update is asked for or running."""
        with self._cond:
            return self._wanted or self._busy

    @property
    def updates(self) -> int:
        """How many updates have run (for tests and measurements)."""
        return self._updates

    @property
    def closing(self) -> bool:
        """Whether close() was called (an update in progress then stops between model calls)."""
        return self._stop.is_set()

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Stop watching and the worker; an update in progress is abandoned between two model
        calls (the index on disk stays whole, since a version becomes current only when fully
        written). False when a thread was still running after timeout seconds."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        for thread in (self._watcher, self._worker):
            if thread is not None:
                thread.join(timeout)
        return not any(t is not None and t.is_alive() for t in (self._watcher, self._worker))

    # ------------------------------------------------------------------ worker side

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._wanted or self._closed)
                if self._closed:
                    return
                self._wanted, self._busy = False, True
            update = None
            try:
                with self._serial:
                    update = self._update()
            except Cancelled:  # close() during an update: nothing to report
                log.info("Index update stopped; it starts again next time.")
            except BotError as exc:
                update = Update(None, error=str(exc))
            except Exception as exc:  # the front end must go on answering whatever happens
                log.exception("Index update failed")
                update = Update(None, error=f"{type(exc).__name__}: {exc}")
            finally:
                with self._cond:
                    self._busy = False
                    self._updates += 1
                    if update is not None:
                        self._ready = update if self._ready is None else self._ready.merged(update)
                    self._cond.notify_all()
            # The front end reports it (REPL: one line; bot: one log line), failures included.
            if update is not None and self.on_ready is not None:
                self.on_ready()

    def update_now(self) -> Update | None:
        """Bring the index up to date now, in this thread, and answer from it at once (for
        /reindex and one-shot `ask`); None when already current. Includes a finished
        background update nobody took yet, which it supersedes."""
        with self._serial:
            update = self._update()
        with self._cond:
            pending, self._ready = self._ready, None
            if pending is not None and pending.loaded is not None:
                update = pending if update is None else pending.merged(update)
            if update is not None and update.loaded is not None:
                self.current = update.loaded
        return update

    def _update(self) -> Update | None:
        """Bring the index up to date, building on the newest one this process holds; the new
        index, ready to answer from, or None when it was already current."""
        started = time.perf_counter()
        newest = self._newest
        index, report = app.rebuild(
            self.settings, self.embedder, previous=newest, progress=False, stop=self._stop
        )
        if index is newest:
            return None
        loaded = app.answer_from(index, self.embedder, self.settings)
        loaded.answerer.retriever.encode(["warm up"])  # load the query encoder off the hot path
        self._newest = index
        before = {d.source for d in newest.documents}
        return Update(
            loaded,
            added=[d for d in report.embedded_documents if d not in before],
            changed=[d for d in report.embedded_documents if d in before],
            removed=list(report.removed_documents),
            passages=report.embedded_passages,
            seconds=time.perf_counter() - started,
        )


def watch_folder(
    folder: Path,
    on_change: Callable[[Iterable[str]], None],
    stop: threading.Event,
    *,
    debounce_ms: int = DEBOUNCE_MS,
    step_ms: int = STEP_MS,
    timeout_ms: int = 5000,
    watching: threading.Event | None = None,
) -> None:
    """Call on_change with each batch of changed paths under folder until stop is set;
    watching is set once the folder is watched (the first batch or quiet timeout_ms)."""
    import watchfiles

    ignore = watchfiles.DefaultFilter()

    def wanted(change: watchfiles.Change, path: str) -> bool:
        # Hidden files are editors' and git's scratch files; discover() skips them too.
        return ignore(change, path) and not Path(path).name.startswith(".")

    while not stop.is_set():
        if not folder.is_dir():  # created later, or briefly gone: look again shortly
            stop.wait(1.0)
            continue
        try:
            for batch in watchfiles.watch(
                folder,
                watch_filter=wanted,
                debounce=debounce_ms,
                step=step_ms,
                stop_event=stop,
                raise_interrupt=False,
                rust_timeout=timeout_ms,
                yield_on_timeout=True,  # an empty batch: proof the watch is in place
            ):
                if watching is not None:
                    watching.set()
                if batch:
                    on_change([path for _, path in batch])
        except (OSError, RuntimeError) as exc:  # the folder went away mid-watch
            log.warning("Watching %s stopped (%s); retrying.", folder, exc)
            stop.wait(1.0)


# ---------------------------------------------------------------------- opening


def open_live(settings: Settings, *, progress: bool = True) -> tuple[LiveIndex, list[StaleReason]]:
    """Open the index for a long-running front end without waiting for an update (it is built
    only when there is none to answer from). Returns it and why it is stale (empty: current)."""
    embedder = app.make_embedder(settings)
    loaded, reasons = app.open_index(settings, embedder, update=False, progress=progress)
    return LiveIndex(settings, loaded, embedder=embedder), reasons


def estimate_passages(index: Index, settings: Settings, reasons: list[StaleReason]) -> int:
    """About how many passages an update for these reasons would embed: the new and changed
    files' sizes over this index's characters per passage (every file when all are to be
    re-embedded)."""
    if any(r.rebuilds_all for r in reasons):
        todo = [d.source for d in index.documents] + [
            r.detail for r in reasons if r.kind is Staleness.NEW
        ]
    else:
        todo = [r.detail for r in reasons if r.kind in (Staleness.NEW, Staleness.CHANGED)]
    size = 0
    for source in todo:
        try:
            size += (settings.seeds_dir / source).stat().st_size
        except OSError:  # gone since: nothing to embed for it
            continue
    chars = sum(len(d.text) for d in index.documents)
    per_passage = chars / len(index) if len(index) else settings.chunking.target_tokens * 4
    return round(size / max(per_passage, 1.0))


def open_for_ask(settings: Settings) -> tuple[app.LoadedIndex, str]:
    """Open the index for one-shot questions: update it first when that is quick, else answer
    from it as it is. Returns it and a note for the user (empty when current)."""
    embedder = app.make_embedder(settings)
    loaded, reasons = app.open_index(settings, embedder, update=False, progress=False)
    if not reasons:
        return loaded, ""
    todo = estimate_passages(loaded.index, settings, reasons)
    if todo > QUICK_UPDATE_PASSAGES:
        return loaded, (
            f"note: the index is out of date ({describe(reasons)}: about "
            f"{_count(todo, 'passage')} to embed), so this answer comes from the index as it "
            "is. Update it with: python -m bot index"
        )
    log.warning("The index is out of date (%s); updating it.", describe(reasons))
    try:
        index, _ = app.rebuild(settings, embedder, previous=loaded.index, progress=False)
    except IndexReadOnlyError as exc:  # answer from the index that can be read
        return loaded, (
            f"note: the index is out of date ({describe(reasons)}) and cannot be "
            f"updated: {exc}. This answer comes from the index as it is."
        )
    return app.answer_from(index, embedder, settings), ""
