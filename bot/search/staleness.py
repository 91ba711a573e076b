"""Whether an index still matches the documents folder and the settings, and why not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import Enum

from bot.config import ChunkingSettings
from bot.ingest.chunking import CHUNKING_VERSION
from bot.ingest.readers import READER_VERSION
from bot.search.store import Index

# Reasons named in one line; the rest are counted.
SHOWN = 3


class Staleness(Enum):
    """What kind of difference a StaleReason is."""

    MODEL = "model changed"
    SETTINGS = "chunking settings changed"
    READERS = "document readers changed"
    CHUNKING = "sentence splitting changed"
    NEW = "new file"
    CHANGED = "changed file"
    REMOVED = "removed file"


@dataclass(frozen=True)
class StaleReason:
    """One way an index differs from what a build now would make: detail names the file, or
    the setting with its old and new value."""

    kind: Staleness
    detail: str

    @property
    def rebuilds_all(self) -> bool:
        """Whether this difference means re-embedding every document."""
        return self.kind in (
            Staleness.MODEL,
            Staleness.SETTINGS,
            Staleness.READERS,
            Staleness.CHUNKING,
        )

    def __str__(self) -> str:
        if self.kind in (Staleness.NEW, Staleness.CHANGED, Staleness.REMOVED):
            return f"{self.kind.value} {self.detail}"
        return f"{self.kind.value} ({self.detail})"


def stale_reasons(
    index: Index,
    files: Mapping[str, str],
    *,
    model: str,
    chunking: ChunkingSettings,
    token_vectors: bool,
) -> list[StaleReason]:
    """Why index differs from the documents (files: source -> sha256) and from a build with
    this model and chunking (token_vectors: whether that build would keep token vectors).
    Empty when it is current. Needs no model loaded: model is the embedder's name."""
    reasons: list[StaleReason] = []
    built = index.params
    if built.model != model:
        reasons.append(StaleReason(Staleness.MODEL, f"{built.model!r} -> {model!r}"))
    wanted = {
        "target_tokens": chunking.target_tokens,
        "overlap_sentences": chunking.overlap_sentences,
        "embed_titles": chunking.embed_titles,
        "embed_sections": chunking.sections_embedded,
        "token_vectors": token_vectors,
    }
    had = asdict(built)
    changed = [f"{k} {had[k]!r} -> {v!r}" for k, v in wanted.items() if had[k] != v]
    if changed:
        reasons.append(StaleReason(Staleness.SETTINGS, ", ".join(changed)))
    versions = (
        (Staleness.READERS, built.reader_version, READER_VERSION),
        (Staleness.CHUNKING, built.chunking_version, CHUNKING_VERSION),
    )
    for kind, was, now in versions:
        if was != now:
            reasons.append(StaleReason(kind, f"version {was} -> {now}"))
    indexed = {d.source: d.sha256 for d in index.documents} | index.skipped
    for source, digest in sorted(files.items()):
        if source not in indexed:
            reasons.append(StaleReason(Staleness.NEW, source))
        elif indexed[source] != digest:
            reasons.append(StaleReason(Staleness.CHANGED, source))
    reasons.extend(StaleReason(Staleness.REMOVED, s) for s in sorted(set(indexed) - set(files)))
    return reasons


def describe(reasons: list[StaleReason]) -> str:
    """The first few reasons in one line, the rest counted: "changed file a.md; new file
    b.md and 4 more"."""
    more = len(reasons) - SHOWN
    return "; ".join(str(r) for r in reasons[:SHOWN]) + (f" and {more} more" if more > 0 else "")
