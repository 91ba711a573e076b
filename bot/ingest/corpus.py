"""Reading the seed documents: discovery, decoding, titles and content hashes."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from bot.errors import CorpusError

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Document:
    """One source file: its path relative to the seeds folder, title, text and hash."""

    source: str
    title: str
    text: str
    sha256: str


def content_hash(data: bytes) -> str:
    """Return the hex SHA-256 of raw file bytes."""
    return hashlib.sha256(data).hexdigest()


MAX_TITLE = 120
TRIMMED_TITLE = 80
_HEADING = re.compile(r"#{1,6}\s+(\S.*?)\s*#*$")  # a Markdown ATX heading; "#tag" is not one


def derive_title(text: str, source: str) -> str:
    """Title for citations: a Markdown heading, else the first line (its opening words when it
    is a whole paragraph), else the file name."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
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


def discover(seeds_dir: Path) -> list[Path]:
    """List every .txt and .md file under seeds_dir, recursively, in a stable order."""
    if not seeds_dir.exists():
        raise CorpusError(
            f"The seeds folder {seeds_dir} does not exist. Create it and add .txt or .md files."
        )
    if not seeds_dir.is_dir():
        raise CorpusError(f"{seeds_dir} is not a folder.")
    paths = [
        p
        for p in sorted(seeds_dir.rglob("*"))
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    ]
    if not paths:
        raise CorpusError(f"The seeds folder {seeds_dir} holds no .txt or .md files.")
    return paths


def read_document(path: Path, seeds_dir: Path) -> Document | None:
    """Read one file; return None (after a warning naming it) if it is empty or not UTF-8."""
    source = path.relative_to(seeds_dir).as_posix()
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        log.warning("Skipping %s: not valid UTF-8 (byte %d).", source, exc.start)
        return None
    # A BOM is not part of the text a reader sees; offsets are into the decoded text.
    text = text.removeprefix("\ufeff")
    if not text.strip():
        log.warning("Skipping %s: the file is empty.", source)
        return None
    return Document(
        source=source, title=derive_title(text, source), text=text, sha256=content_hash(data)
    )


def load_corpus(seeds_dir: Path) -> tuple[list[Document], dict[str, str]]:
    """Read every usable document under seeds_dir.

    Returns the documents and, for the files skipped, their hashes (so an unchanged bad file
    does not make the index look stale). Raises CorpusError if no document is usable.
    """
    docs, skipped = [], {}
    for path in discover(seeds_dir):
        doc = read_document(path, seeds_dir)
        if doc is None:
            skipped[path.relative_to(seeds_dir).as_posix()] = content_hash(path.read_bytes())
        else:
            docs.append(doc)
    if not docs:
        raise CorpusError(
            f"No readable document in {seeds_dir}: every file was empty or not UTF-8."
        )
    return docs, skipped


def scan(seeds_dir: Path) -> dict[str, str]:
    """Hash of every candidate file under seeds_dir, by path relative to it."""
    return {
        p.relative_to(seeds_dir).as_posix(): content_hash(p.read_bytes())
        for p in discover(seeds_dir)
    }
