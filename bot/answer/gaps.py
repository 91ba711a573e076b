"""The gaps in the docs: declined questions and 👎 votes, logged and grouped by meaning.

The log is JSON lines, one per question ({"time", "kind", "question", "source"}, and where it
was asked: {"guild", "channel", "scopes", "user"}, the user as a keyed hash, never an id).
find_gaps embeds the questions with the answerer's own query encoder, groups them by
agglomerative clustering over cosine distance, and gives each group the passage the sources
came closest with: what the docs almost say.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer.compose import Answerer, Source
from bot.errors import BotError

log = logging.getLogger(__name__)

DECLINED = "declined"
DOWNVOTE = "downvote"


@dataclass(frozen=True)
class Where:
    """Where a logged question was asked: the server and channel (a thread's parent; None in
    a DM or a terminal), the scopes that place could read (None: all of them), and who asked
    as a keyed hash (GapsLog.user_key), so `gaps --forget-user` can find their entries while
    the log itself never holds an id."""

    guild: int | None = None
    channel: int | None = None
    scopes: tuple[str, ...] | None = None
    user: str | None = None


# Once a day at most, an append drops the entries past discord.gaps_retention_days.
PRUNE_EVERY = timedelta(days=1)


class GapsLog:
    """Appends one JSON line per declined question or 👎 vote: time, kind, question, source, and
    where it was asked (Where). Entries older than retention_days (0: never) are dropped."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], datetime] | None = None,
        *,
        retention_days: int = 0,
    ) -> None:
        self.path = path
        self.clock = clock or (lambda: datetime.now(UTC))
        self.retention_days = retention_days
        self._lock = threading.Lock()  # written from worker threads
        self._pruned: datetime | None = None
        self._key: bytes | None = None

    def _file_lock(self) -> Any:
        """The lock every process writing this log takes (shards share it)."""
        from filelock import FileLock

        return FileLock(str(self.path) + ".lock", timeout=30)

    def user_key(self, user_id: int) -> str | None:
        """A stable pseudonym for a user: HMAC-SHA256 of the id under a random key kept beside
        the log (created on first use, readable by its owner only). None when the key cannot
        be made (reported): a log that cannot be written must not cost an answer."""
        if self._key is None:
            try:
                self._key = self._read_key()
            except OSError as exc:
                log.warning("Could not read or create the gaps log's key: %s", exc)
                return None
        return hmac.new(self._key, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]

    def _read_key(self) -> bytes:
        key_file = Path(str(self.path) + ".key")
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(secrets.token_hex(32))
        return key_file.read_text(encoding="ascii").strip().encode()

    def append(
        self, question: str, kind: str, source: str | None = None, *, where: Where | None = None
    ) -> None:
        """Write one line (blocking: call it off the event loop). Nothing that names the asker.
        A log that cannot be written is reported, never raised: it must not cost an answer."""
        now = self.clock()
        record = {
            "time": now.isoformat(timespec="seconds"),
            "kind": kind,
            "question": question,
            "source": source,
            **(asdict(where) if where is not None else {}),
        }
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self._file_lock(), self.path.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except (OSError, TimeoutError) as exc:
                log.warning("Could not write to the gaps log %s: %s", self.path, exc)
                return
        if self.retention_days and (self._pruned is None or now - self._pruned >= PRUNE_EVERY):
            self.prune()

    def _rewrite(self, keep: Callable[[dict[str, Any]], bool]) -> int:
        """Rewrite the log with the lines keep accepts (atomically, under the lock); return
        how many lines were dropped. Unreadable lines are kept: they are not ours to judge."""
        if not self.path.exists():
            return 0
        with self._lock, self._file_lock():
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
            kept = []
            for line in lines:
                try:
                    row = json.loads(line)
                    ok = keep(row) if isinstance(row, dict) else True
                except ValueError:
                    ok = True
                if ok and line.strip():
                    kept.append(line)
            dropped = sum(1 for line in lines if line.strip()) - len(kept)
            if dropped:
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
                tmp.replace(self.path)
        return dropped

    def prune(self) -> int:
        """Drop the entries older than retention_days; return how many (0 when it is 0)."""
        now = self.clock()
        self._pruned = now
        if not self.retention_days:
            return 0
        oldest = now - timedelta(days=self.retention_days)

        def keep(row: dict[str, Any]) -> bool:
            try:
                return _aware(datetime.fromisoformat(str(row["time"]))) >= oldest
            except (KeyError, ValueError):
                return True

        try:
            return self._rewrite(keep)
        except (OSError, TimeoutError) as exc:
            log.warning("Could not prune the gaps log %s: %s", self.path, exc)
            return 0

    def forget_user(self, user_id: int) -> int:
        """Erase every entry of the user with this Discord id; return how many."""
        if not self.path.exists():
            return 0
        key = self.user_key(user_id)
        if key is None:
            raise BotError(f"Cannot read the key of the gaps log ({self.path}.key)")
        return self._rewrite(lambda row: row.get("user") != key)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Gap:
    """One logged question, and where it was asked (None: an entry from before scopes)."""

    time: datetime
    kind: str
    question: str
    where: Where | None = None


def parse_since(text: str) -> datetime:
    """A date or date-time (ISO 8601) as an aware datetime (UTC when no zone is given)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BotError(f"--since must be a date such as 2026-01-31, not {text!r}") from None
    return _aware(when)


def _where(row: dict[str, Any]) -> Where | None:
    if not any(k in row for k in ("guild", "channel", "scopes", "user")):
        return None
    scopes = row.get("scopes")
    return Where(
        guild=row.get("guild"),
        channel=row.get("channel"),
        scopes=tuple(str(s) for s in scopes) if isinstance(scopes, list) else None,
        user=row.get("user"),
    )


def read_gaps(
    path: Path,
    since: datetime | None = None,
    *,
    retention_days: int = 0,
    now: datetime | None = None,
) -> list[Gap]:
    """The logged questions at or after since, and within retention_days of now (0: all);
    unreadable lines are skipped with one warning."""
    if not path.exists():
        return []
    if retention_days:
        oldest = (now or datetime.now(UTC)) - timedelta(days=retention_days)
        since = max(since, oldest) if since is not None else oldest
    gaps, bad = [], 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                gap = Gap(
                    _aware(datetime.fromisoformat(row["time"])),
                    str(row.get("kind", DECLINED)),
                    " ".join(str(row["question"]).split()),
                    _where(row),
                )
            except (ValueError, KeyError, TypeError, AttributeError):
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
