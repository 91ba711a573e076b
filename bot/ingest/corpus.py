"""Reading the seed documents: discovery, format readers, titles, content hashes, the cache."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pathspec

from bot.config import Settings
from bot.errors import CorpusError
from bot.ingest.layout import Layout, Location
from bot.ingest.readers import READER_VERSION, READERS, Extracted, UnreadableError, read_bytes

log = logging.getLogger(__name__)

SUFFIXES = tuple(READERS)


@dataclass(frozen=True)
class Selection:
    """Which files under the seeds folder are documents (the include and exclude settings):
    gitignore-style patterns matched against each file's path relative to the folder. A file
    is one when an include pattern matches it and no exclude pattern does; the rest are not
    read, not counted as skipped and not hashed for staleness."""

    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> Selection:
        """The selection the settings ask for."""
        return cls(tuple(settings.include), tuple(settings.exclude))

    @cached_property
    def _specs(self) -> tuple[pathspec.GitIgnoreSpec, pathspec.GitIgnoreSpec]:
        return (
            pathspec.GitIgnoreSpec.from_lines(self.include),
            pathspec.GitIgnoreSpec.from_lines(self.exclude),
        )

    def wanted(self, source: str) -> bool:
        """Whether the file at source (relative to the seeds folder, with /) is selected."""
        if self == EVERYTHING:
            return True
        include, exclude = self._specs
        return include.match_file(source) and not exclude.match_file(source)


EVERYTHING = Selection()


@dataclass(frozen=True)
class Document:
    """One source file: its path relative to the seeds folder, title, extracted text, hash,
    URL (when the file names one) and the map from text offsets to page, line and section."""

    source: str
    title: str
    text: str
    sha256: str
    url: str | None = None
    layout: Layout = field(default_factory=Layout)

    def locate(self, start: int, end: int) -> Location:
        """Page, source lines and section of the text range [start, end)."""
        return self.layout.locate(self.text, start, end)

    def to_json(self) -> dict[str, Any]:
        """The document as stored in documents.jsonl."""
        return {
            "source": self.source,
            "title": self.title,
            "text": self.text,
            "sha256": self.sha256,
            "url": self.url,
            "layout": self.layout.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Document:
        """Inverse of to_json."""
        return cls(
            source=str(data["source"]),
            title=str(data["title"]),
            text=str(data["text"]),
            sha256=str(data["sha256"]),
            url=data.get("url"),
            layout=Layout.from_json(data["layout"]),
        )


def content_hash(data: bytes) -> str:
    """Return the hex SHA-256 of raw file bytes."""
    return hashlib.sha256(data).hexdigest()


MAX_TITLE = 120
TRIMMED_TITLE = 80
_NAMES = re.compile(r"[^\W_]")  # a letter or a digit
_HEADING = re.compile(r"#{1,6}\s+(\S.*?)\s*#*$")  # a Markdown ATX heading; "#tag" is not one


def derive_title(text: str, source: str) -> str:
    """Title for citations: a Markdown heading, else the first line with a letter or digit
    in it (its opening words when it is a whole paragraph), else the file name."""
    # A line without a letter or digit (an ASCII-art banner, a rule of dashes) names nothing.
    lines = [line.strip() for line in text.splitlines() if _NAMES.search(line)]
    for line in lines:
        if m := _HEADING.match(line):
            return m.group(1)[:MAX_TITLE]
    if not lines:
        return Path(source).stem
    first = lines[0]
    if len(first) <= MAX_TITLE:
        return first
    # A paragraph, not a title: its opening words, cut at a word boundary, read better in a
    # citation than a file name like "001_c1d24ae85ae90f73".
    cut = first.rfind(" ", 0, TRIMMED_TITLE)
    return first[: cut if cut > 0 else TRIMMED_TITLE].rstrip(" ,;:&–—-") + "…"


def _candidates(seeds_dir: Path, select: Selection = EVERYTHING) -> tuple[list[Path], Counter[str]]:
    """Selected files under seeds_dir a reader exists for, and a count of the other selected
    files by suffix."""
    if not seeds_dir.exists():
        raise CorpusError(
            f"The seeds folder {seeds_dir} does not exist. Create it and add documents "
            f"({', '.join(SUFFIXES)})."
        )
    if not seeds_dir.is_dir():
        raise CorpusError(f"{seeds_dir} is not a folder.")
    paths, others = [], Counter[str]()
    for p in sorted(seeds_dir.rglob("*")):
        relative = p.relative_to(seeds_dir)
        if not p.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if not select.wanted(relative.as_posix()):
            continue
        if p.suffix.lower() in SUFFIXES:
            paths.append(p)
        else:
            others[p.suffix.lower() or "(no extension)"] += 1
    return paths, others


def _counted(others: Counter[str]) -> str:
    return ", ".join(f"{n} {suffix}" for suffix, n in others.most_common())


def discover(seeds_dir: Path, select: Selection = EVERYTHING) -> list[Path]:
    """List every selected file under seeds_dir that a reader exists for, recursively, in a
    stable order."""
    return _discovered(seeds_dir, select)[0]


def _discovered(seeds_dir: Path, select: Selection) -> tuple[list[Path], Counter[str]]:
    """discover's files, and the count of the others by suffix (for one warning)."""
    paths, others = _candidates(seeds_dir, select)
    if not paths:
        found = f"; it holds only files of other types ({_counted(others)})" if others else ""
        chosen = "" if select == EVERYTHING else " that include and exclude select"
        raise CorpusError(
            f"The seeds folder {seeds_dir} holds no documents of a supported type "
            f"({', '.join(SUFFIXES)}){chosen}{found}."
        )
    return paths, others


def _cache_file(cache_dir: Path, digest: str, suffix: str) -> Path:
    return cache_dir / "extracted" / f"{digest}{suffix}.v{READER_VERSION}.json"


def extract(data: bytes, suffix: str, cache_dir: Path | None = None) -> Extracted:
    """The reader's output for a file's bytes, from the cache (keyed by content hash) when
    there; UnreadableError names why a file cannot be read (cached too)."""
    cached = _cache_file(cache_dir, content_hash(data), suffix) if cache_dir else None
    if cached is not None and cached.exists():
        try:
            entry = json.loads(cached.read_text(encoding="utf-8"))
            if "error" in entry:
                raise UnreadableError(entry["error"])
            return Extracted(
                text=entry["text"],
                layout=Layout.from_json(entry["layout"]),
                title=entry["title"],
                url=entry["url"],
            )
        except (OSError, ValueError, KeyError, TypeError):
            log.debug("Ignoring a damaged extraction cache entry %s", cached)
    try:
        result = read_bytes(data, suffix)
        entry = {
            "text": result.text,
            "layout": result.layout.to_json(),
            "title": result.title,
            "url": result.url,
        }
    except UnreadableError as exc:
        entry = {"error": str(exc)}
        _write_cache(cached, entry)
        raise
    _write_cache(cached, entry)
    return result


def _write_cache(path: Path | None, entry: dict[str, Any]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half an entry
    except OSError as exc:  # a cache: indexing goes on without it
        log.debug("Could not write the extraction cache %s: %s", path, exc)


def _title(extracted: Extracted, source: str) -> str:
    if extracted.title:
        return extracted.title[:MAX_TITLE]
    text, layout = extracted.text, extracted.layout
    if layout.headings and layout.format != "txt":  # a text's titles are found, not marked
        start, end, _ = min(layout.headings, key=lambda h: (h[2], h[0]))
        return " ".join(text[start:end].split())[:MAX_TITLE]
    return derive_title(text, source)


def read_document(
    path: Path, seeds_dir: Path, cache_dir: Path | None = None, *, data: bytes | None = None
) -> Document:
    """Read one file with the reader for its type (data: its bytes, when already read);
    UnreadableError says why it cannot be."""
    source = path.relative_to(seeds_dir).as_posix()
    if data is None:
        data = read_file(path)
    extracted = extract(data, path.suffix.lower(), cache_dir)
    return Document(
        source=source,
        title=_title(extracted, source),
        text=extracted.text,
        sha256=content_hash(data),
        url=extracted.url,
        layout=extracted.layout,
    )


def load_corpus(
    seeds_dir: Path,
    *,
    cache_dir: Path | None = None,
    on_read: Callable[[int, int], None] | None = None,
    snapshot: Snapshot | None = None,
    reuse: Sequence[Document] = (),
    select: Selection = EVERYTHING,
) -> tuple[list[Document], dict[str, str]]:
    """Read every usable document under seeds_dir.

    Returns the documents and, for the files skipped, their hashes (so an unchanged bad file
    does not make the index look stale). Each skipped file is named in a warning with its
    reason; files of unsupported types are counted in one warning. Raises CorpusError if no
    document is usable. With cache_dir, extraction is cached there by content hash, so only
    new and changed files are parsed. on_read(done, total) follows the reading (a progress bar).
    Only the files select selects are looked at (the settings' include and exclude).

    With a snapshot (taken just before, with the hashes of reuse as known), the files it lists
    are the corpus: a document of reuse whose file is unchanged is taken as it is (its file
    is not read again), and a changed file's bytes come from the snapshot when it kept them.
    """
    stream = read_corpus(
        seeds_dir,
        cache_dir=cache_dir,
        on_read=on_read,
        snapshot=snapshot,
        reuse=reuse,
        select=select,
    )
    return list(stream), stream.skipped


# Formats whose parsing costs enough (a PDF page takes ~3 ms, an HTML page ~1 ms) to be worth
# other processes, from POOL_FROM such files to parse; fewer, or only plain text, are read
# here: starting a worker costs ~0.3 s.
POOLED_SUFFIXES = frozenset({".pdf", ".docx", ".html", ".htm"})
POOL_FROM = 16


class CorpusStream:
    """The documents of a seeds folder as they are read, in a stable order (iterate once).

    Files of the formats in POOLED_SUFFIXES that are not in the extraction cache are parsed
    in a pool of processes, all started at once, so a build embeds the first documents while
    the others are parsed. skipped (source -> sha256 of each unreadable file) is complete
    once the iteration ends; CorpusError then if no document was readable. Use::

        stream = read_corpus(seeds_dir, cache_dir=cache)
        index, report = build_index(stream, embedder, chunking, skipped=stream.skipped)
    """

    def __init__(
        self,
        seeds_dir: Path,
        paths: list[Path],
        *,
        cache_dir: Path | None,
        on_read: Callable[[int, int], None] | None,
        snapshot: Snapshot | None,
        reusable: dict[str, Document],
    ) -> None:
        self.seeds_dir, self.paths, self.cache_dir = seeds_dir, paths, cache_dir
        self.on_read, self.snapshot, self.reusable = on_read, snapshot, reusable
        self.skipped: dict[str, str] = {}

    @cached_property
    def _plan(self) -> tuple[dict[Path, bytes | None], dict[Path, bytes]]:
        """The files to read (their bytes when the snapshot kept them), and those of them to
        parse in other processes (their bytes)."""
        todo: dict[Path, bytes | None] = {}
        for path in self.paths:
            source = path.relative_to(self.seeds_dir).as_posix()
            kept = self.reusable.get(source)
            snap = self.snapshot
            if kept is not None and snap is not None and kept.sha256 == snap.files[source]:
                continue
            todo[path] = snap.fresh.get(source) if snap is not None else None
        return todo, self._pooled(todo)

    @property
    def parallel(self) -> bool:
        """Whether files are parsed in other processes (so it pays to embed while reading)."""
        return bool(self._plan[1])

    def __iter__(self) -> Iterator[Document]:
        todo, pooled = self._plan
        workers = min(len(pooled), max(1, (os.cpu_count() or 1) - 1)) if pooled else 0
        pool = (
            ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            if workers
            else None
        )
        try:
            futures = {
                path: pool.submit(read_document, path, self.seeds_dir, self.cache_dir, data=data)
                for path, data in pooled.items()
                if pool is not None
            }
            yield from self._in_order(todo, futures)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)

    def _pooled(self, todo: dict[Path, bytes | None]) -> dict[Path, bytes]:
        """The files of todo to parse in other processes (their bytes, read now), or none."""
        costly = [p for p in todo if p.suffix.lower() in POOLED_SUFFIXES]
        if len(costly) < POOL_FROM or (os.cpu_count() or 1) < 2:
            return {}
        out: dict[Path, bytes] = {}
        for path in costly:
            try:
                data = todo[path] or read_file(path)
            except OSError:
                continue  # said when the file's turn comes
            cached = (
                self.cache_dir is not None
                and _cache_file(self.cache_dir, content_hash(data), path.suffix.lower()).exists()
            )
            if not cached:
                out[path] = data
        return out if len(out) >= POOL_FROM else {}

    def _in_order(
        self,
        todo: dict[Path, bytes | None],
        futures: dict[Path, Future[Document]],
    ) -> Iterator[Document]:
        total, found = len(self.paths), 0
        reasons: list[str] = []
        for done, path in enumerate(self.paths):
            if self.on_read is not None:
                self.on_read(done, total)
            source = path.relative_to(self.seeds_dir).as_posix()
            if path not in todo:
                found += 1
                yield self.reusable[source]
                continue
            try:
                if path in futures:
                    doc = futures[path].result()
                else:
                    doc = read_document(path, self.seeds_dir, self.cache_dir, data=todo[path])
            except (UnreadableError, OSError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                log.warning("Skipping %s: %s.", source, reason)
                reasons.append(f"{source}: {reason}")
                with contextlib.suppress(OSError):  # gone or unreadable: the next scan says so
                    known = self.snapshot.files[source] if self.snapshot is not None else None
                    self.skipped[source] = known or content_hash(read_file(path))
                continue
            found += 1
            yield doc
        if self.on_read is not None:
            self.on_read(total, total)
        if not found:
            more = f"; and {len(reasons) - 5} more" if len(reasons) > 5 else ""
            shown = "; ".join(reasons[:5]) + more
            raise CorpusError(f"No readable document in {self.seeds_dir}: {shown}.")


def read_corpus(
    seeds_dir: Path,
    *,
    cache_dir: Path | None = None,
    on_read: Callable[[int, int], None] | None = None,
    snapshot: Snapshot | None = None,
    reuse: Sequence[Document] = (),
    select: Selection = EVERYTHING,
) -> CorpusStream:
    """load_corpus's documents as a stream, read as they are iterated (costly formats in a
    process pool); the files are listed, and unsupported ones counted in a warning, now."""
    if snapshot is not None:
        paths, others = [seeds_dir / source for source in snapshot.files], snapshot.others
    else:
        paths, others = _discovered(seeds_dir, select)
    if others:
        log.warning(
            "Not indexed: %s (unsupported file type%s; supported: %s).",
            _counted(others),
            "s" if len(others) > 1 else "",
            ", ".join(SUFFIXES),
        )
    reusable = {d.source: d for d in reuse} if snapshot is not None else {}
    return CorpusStream(
        seeds_dir,
        paths,
        cache_dir=cache_dir,
        on_read=on_read,
        snapshot=snapshot,
        reusable=reusable,
    )


def read_file(path: Path) -> bytes:
    """A file's bytes: the one place the corpus reads a document file."""
    return path.read_bytes()


# Bytes of changed files a snapshot keeps for the build that follows it; past this, the build
# reads them again rather than hold a large corpus in memory.
SNAPSHOT_KEEP_BYTES = 256 * 2**20


@dataclass
class Snapshot:
    """The document files under a folder as they are now: each one's sha256 by path relative
    to the folder, and the bytes of those that were new or changed against the known hashes
    (so a build right after reads no file twice)."""

    files: dict[str, str]
    fresh: dict[str, bytes] = field(default_factory=dict)
    others: Counter[str] = field(default_factory=Counter)  # files of other types, by suffix


def take_snapshot(
    seeds_dir: Path, known: Mapping[str, str] | None = None, *, select: Selection = EVERYTHING
) -> Snapshot:
    """Hash every selected document file under seeds_dir, reading each once; keep the bytes of
    those whose hash differs from known (up to SNAPSHOT_KEEP_BYTES in all)."""
    paths, others = _discovered(seeds_dir, select)
    snap = Snapshot({}, others=others)
    kept = 0
    for path in paths:
        source = path.relative_to(seeds_dir).as_posix()
        data = read_file(path)
        digest = snap.files[source] = content_hash(data)
        if (
            known is not None
            and known.get(source) != digest
            and kept + len(data) <= (SNAPSHOT_KEEP_BYTES)
        ):
            snap.fresh[source] = data
            kept += len(data)
    return snap


def scan(seeds_dir: Path, *, select: Selection = EVERYTHING) -> dict[str, str]:
    """Hash of every selected document file under seeds_dir, by path relative to it."""
    return take_snapshot(seeds_dir, select=select).files
