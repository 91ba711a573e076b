"""The gaps in the docs: declined questions and 👎 votes, logged and grouped by meaning.

The log is JSON lines, one per question ({"time", "kind", "question", "source"}; never who
asked). find_gaps embeds the questions with the answerer's own query encoder, groups them by
agglomerative clustering over cosine distance, and gives each group the passage the sources
came closest with: what the docs almost say.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer.compose import Answerer, Source
from bot.errors import BotError

log = logging.getLogger(__name__)

DECLINED = "declined"
DOWNVOTE = "downvote"


class GapsLog:
    """Appends one JSON line per declined question or 👎 vote: time, kind, question, source."""

    def __init__(self, path: Path, clock: Callable[[], datetime] | None = None) -> None:
        self.path = path
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()  # written from worker threads

    def append(self, question: str, kind: str, source: str | None = None) -> None:
        """Write one line (blocking: call it off the event loop). Nothing about the asker.
        A log that cannot be written is reported, never raised: it must not cost an answer."""
        record = {
            "time": self.clock().isoformat(timespec="seconds"),
            "kind": kind,
            "question": question,
            "source": source,
        }
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # One write of one short line in append mode: processes sharing the file
                # (shards) do not interleave within a line.
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError as exc:
                log.warning("Could not write to the gaps log %s: %s", self.path, exc)


@dataclass(frozen=True)
class Gap:
    """One logged question."""

    time: datetime
    kind: str
    question: str


def parse_since(text: str) -> datetime:
    """A date or date-time (ISO 8601) as an aware datetime (UTC when no zone is given)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BotError(f"--since must be a date such as 2026-01-31, not {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def read_gaps(path: Path, since: datetime | None = None) -> list[Gap]:
    """The logged questions at or after since; unreadable lines are skipped with one warning."""
    if not path.exists():
        return []
    gaps, bad = [], 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                when = datetime.fromisoformat(row["time"])
                gap = Gap(
                    when if when.tzinfo else when.replace(tzinfo=UTC),
                    str(row.get("kind", DECLINED)),
                    " ".join(str(row["question"]).split()),
                )
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if gap.question and (since is None or gap.time >= since):
                gaps.append(gap)
    if bad:
        log.warning("Skipped %d unreadable line(s) in %s", bad, path)
    return gaps


def group_vectors(vectors: np.ndarray, distance: float) -> list[list[int]]:
    """Rows grouped by meaning: average-linkage agglomerative clustering, merging while the
    mean cosine distance between two groups stays below distance. Largest group first."""
    n = len(vectors)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    from sklearn.cluster import AgglomerativeClustering  # heavy import; only this command

    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    ).fit_predict(vectors)
    groups: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        groups.setdefault(int(label), []).append(row)
    return sorted(groups.values(), key=lambda rows: (-len(rows), rows[0]))


@dataclass(frozen=True)
class GapGroup:
    """Questions that ask the same thing, and what the docs came closest with."""

    count: int  # logged questions in the group, repeats included
    examples: list[str]  # the most central distinct questions, most central first
    declined: int  # of count, declined (the rest are 👎 votes)
    closest: Source | None  # the best passage any of them got
    confidence: float  # its confidence (below the answer bar when declined)

    def to_json(self) -> dict[str, Any]:
        """The `gaps --json` shape of one group."""
        closest = None
        if self.closest is not None:
            c = asdict(self.closest)
            closest = {k: c[k] for k in ("title", "source", "quote", "passage", "start", "end")}
            closest["confidence"] = round(self.confidence, 3)
        return {
            "count": self.count,
            "declined": self.declined,
            "downvoted": self.count - self.declined,
            "examples": self.examples,
            "closest": closest,
        }


def find_gaps(
    answerer: Answerer, gaps: Sequence[Gap], *, distance: float, examples: int = 3
) -> list[GapGroup]:
    """Group the logged questions by meaning, largest group first."""
    counts = Counter(g.question for g in gaps)
    declined = Counter(g.question for g in gaps if g.kind == DECLINED)
    # One vector per distinct question (case-folded), counted as often as it was logged.
    by_key: dict[str, str] = {}
    for g in gaps:
        by_key.setdefault(g.question.casefold(), g.question)
    texts = list(by_key.values())
    weight = {q: 0 for q in texts}
    n_declined = {q: 0 for q in texts}
    for q, n in counts.items():
        weight[by_key[q.casefold()]] += n
        n_declined[by_key[q.casefold()]] += declined[q]
    if not texts:
        return []
    vectors, tokens = answerer.retriever.encode(texts)
    vectors = np.asarray(vectors, dtype=np.float32)
    groups = []
    for rows in group_vectors(vectors, distance):
        centre = vectors[rows].mean(axis=0)
        # Most central first; ties (and repeats) favour the question asked more often.
        order = sorted(rows, key=lambda r: (-float(vectors[r] @ centre), -weight[texts[r]], r))
        closest, confidence = _closest(
            answerer, [texts[r] for r in rows], rows, vectors, tokens, weight
        )
        groups.append(
            GapGroup(
                count=sum(weight[texts[r]] for r in rows),
                examples=[texts[r] for r in order[:examples]],
                declined=sum(n_declined[texts[r]] for r in rows),
                closest=closest,
                confidence=confidence,
            )
        )
    return sorted(groups, key=lambda g: -g.count)  # stable: ties keep the clustering's order


def _closest(
    answerer: Answerer,
    questions: list[str],
    rows: list[int],
    vectors: np.ndarray,
    tokens: list[np.ndarray] | None,
    weight: dict[str, int],
) -> tuple[Source | None, float]:
    """A group's closest passage: the top passage most of its questions got (each counted as
    often as it was asked; ties to the more confident), so it speaks for the whole group; and
    the best confidence any question reached with it."""
    votes: dict[tuple[str, int], tuple[int, float, Source]] = {}
    for q, r in zip(questions, rows, strict=True):
        try:
            answer = answerer.ask(
                q, 1, query_vector=vectors[r], query_tokens=tokens[r] if tokens else None
            )
        except BotError:  # e.g. longer than this configuration's question limit
            continue
        if not answer.results:
            continue
        top = answer.results[0]
        n, conf, best = votes.get((top.source, top.start), (0, -np.inf, top))
        if answer.confidence > conf:
            conf, best = answer.confidence, top
        votes[(top.source, top.start)] = (n + weight[q], conf, best)
    if not votes:
        return None, 0.0
    _, conf, best = max(votes.values(), key=lambda v: (v[0], v[1]))
    return best, float(conf)
