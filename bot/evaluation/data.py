"""Question and passage files of an evaluation, the fixed tune/report split, answer matching."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.ingest.corpus import Document

_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2032": "'", "`": "'"}
)
_SPACE = re.compile(r"\s+")


def normalise_answer(text: str) -> str:
    """Lower-case, unify quote marks and whitespace for answer matching."""
    return _SPACE.sub(" ", text.translate(_QUOTES).lower()).strip()


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether text holds one of answers, case- and quote-mark-insensitive."""
    hay = normalise_answer(text)
    return any(needle and needle in hay for needle in map(normalise_answer, answers))


def split_of(title: str) -> str:
    """The fixed tuning/report split, by article title: a third of articles are for tuning."""
    return "tune" if zlib.crc32(title.encode("utf-8")) % 3 == 0 else "report"


def in_split(
    rows: Sequence[dict[str, Any]], documents: Sequence[Document], split: str
) -> list[dict[str, Any]]:
    """The question rows of split ("tune" or "report"). A row may name its part itself (a
    rendered benchmark, whose file titles are the readers' to choose); otherwise it is its
    first gold article's, by title, fixed in split_of."""
    titles = {d.source: d.title for d in documents}
    return [
        r
        for r in rows
        if (r.get("split") or (r.get("gold") and split_of(titles.get(str(r["gold"][0]), ""))))
        == split
    ]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; a bad line is an error naming the line."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise BotError(f"{path}:{n} is not valid JSON ({exc.msg})") from exc
    return rows


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Rows as a JSON-lines file (UTF-8 kept), written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def passages_as_documents(rows: Sequence[dict[str, Any]]) -> list[Document]:
    """Each benchmark passage becomes one document, so metrics rank whole passages."""
    docs = []
    for row in rows:
        text = str(row["text"])
        docs.append(
            Document(
                source=str(row["id"]),
                title=str(row.get("title") or row["id"]).replace("_", " "),
                text=text,
                sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            )
        )
    return docs
