"""The SQuAD-dev folder the figures read (`bench --data FOLDER`): passages.jsonl and
questions.jsonl, as ../shared/data/squad-dev holds them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.errors import BotError

FILES = ("passages.jsonl", "questions.jsonl")


def squad_dev(folder: Path | None) -> Path:
    """folder, checked to be a SQuAD-dev folder; an error naming --data when it is not."""
    wanted = "the SQuAD-dev folder, with passages.jsonl and questions.jsonl"
    if folder is None:
        raise BotError(
            f"This bench step reads SQuAD-dev: pass --data FOLDER, {wanted} "
            "(e.g. --data ../shared/data/squad-dev)"
        )
    if not folder.is_dir():
        raise BotError(f"--data {folder} is not a folder; give {wanted}")
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise BotError(f"--data {folder} has no {' and no '.join(missing)}; give {wanted}")
    return folder


def questions(data: Path, n: int) -> list[str]:
    """n questions, one in seven of the first, so they spread over the articles."""
    with (data / "questions.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line)["question"] for _, line in zip(range(n * 7), fh, strict=False)]
    return rows[::7][:n]


def passage_rows(data: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The first limit passages ({id, title, text}; None: all of them)."""
    with (data / "passages.jsonl").open(encoding="utf-8") as fh:
        lines = fh if limit is None else (line for _, line in zip(range(limit), fh, strict=False))
        return [json.loads(line) for line in lines]


def write_passage_files(rows: list[dict[str, Any]], folder: Path) -> list[str]:
    """Each passage row as folder/<id>.txt (its title, a blank line, its text), a corpus of
    files as a user's would be; the files' texts, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = []
    for r in rows:
        text = f"{r['title']}\n\n{r['text']}"
        (folder / f"{r['id']}.txt").write_text(text, encoding="utf-8")
        texts.append(text)
    return texts


def sentence_pool(data: Path, limit: int) -> list[str]:
    """Up to limit sentences of 40 to 300 characters from the passages, in order."""
    out: list[str] = []
    with (data / "passages.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]):
                if 40 <= len(s) <= 300:
                    out.append(s.strip())
    return out[:limit]
