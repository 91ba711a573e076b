"""Plain text: kept as written, except that hard-wrapped paragraphs are joined into one line."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence

from bot.ingest.layout import Layout
from bot.ingest.readers.base import Extracted, decode_text

# A line that starts a list item or is indented stays on its own line.
_OWN_LINE = re.compile(r"\s|[-*+•–]\s|\d{1,3}[.)]\s|[A-Za-z][.)]\s")
# A line shorter than this is a title, an address line, a verse: not wrapped prose.
MIN_WRAPPED = 30
# A line drawn with characters, not written: a box edge or rule ("+---+---+", "=====").
_RULE = re.compile(r"[ \t]*[-+=_*~|:.#<>/\\^ \t]*[-+=_*~|]{3}[-+=_*~|:.#<>/\\^ \t]*")
# A row of a drawn table or box: text between bars ("|  CRC32  |  ISIZE  |").
_CELLS = re.compile(r"[^|]*\|[^|]*\|.*")
# The bit or column numbers over a drawn box ("0   1   2   3").
_NUMBERS = re.compile(r"[ \t]*\d+([ \t]+\d+)+[ \t]*")


def drawn_lines(lines: Sequence[str]) -> list[bool]:
    """Which lines belong to a drawing (a box, a drawn table): runs of consecutive rule, cell
    and number lines that hold a rule line or two cell lines. A lone rule under a title is one."""
    kind = [
        "rule"
        if _RULE.fullmatch(line)
        else "cells"
        if _CELLS.fullmatch(line)
        else "numbers"
        if _NUMBERS.fullmatch(line)
        else ""
        for line in lines
    ]
    drawn = [False] * len(lines)
    start = 0
    while start < len(lines):
        if not kind[start]:
            start += 1
            continue
        end = start
        while end < len(lines) and kind[end]:
            end += 1
        run = kind[start:end]
        if "rule" in run or run.count("cells") >= 2:
            drawn[start:end] = [True] * (end - start)
        start = end
    return drawn


def rejoin(
    text: str, drawn: Sequence[bool] | None = None
) -> tuple[str, tuple[tuple[int, int], ...]]:
    """text with each newline inside a wrapped paragraph replaced by a space (so offsets do not
    move), and the line anchors that keep the source line of every character. Lines of a
    drawing (drawn: drawn_lines of text's lines, when the caller has them) are never joined."""
    chars = list(text)
    anchors = [(0, 1)]
    lines = text.split("\n")
    drawn = drawn_lines(lines) if drawn is None else drawn
    pos = 0
    for n, (line, nxt) in enumerate(itertools.pairwise(lines), 1):
        pos += len(line)  # pos is the newline after line n
        if (
            line.strip()
            and nxt.strip()
            and len(line.strip()) >= MIN_WRAPPED
            and not _OWN_LINE.match(nxt)
            and not (drawn[n - 1] or drawn[n])
        ):
            chars[pos] = " "
            anchors.append((pos + 1, n + 1))
        pos += 1
    return "".join(chars), tuple(anchors)


def drawings(lines: Sequence[str], drawn: Sequence[bool]) -> tuple[tuple[int, int], ...]:
    """(start, end) of each drawing in the text of lines (drawn: their drawn_lines): quoted
    with its passage, never as the answer."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line, is_drawn in zip(lines, drawn, strict=True):
        if is_drawn:
            if spans and spans[-1][1] == pos - 1:  # the line right after the last drawn one
                spans[-1] = (spans[-1][0], pos + len(line))
            else:
                spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return tuple(spans)


def read_text(data: bytes) -> Extracted:
    """A .txt file: hard-wrapped paragraphs joined, drawings marked as blocks; its title comes
    from corpus.derive_title."""
    raw = decode_text(data)
    lines = raw.split("\n")
    drawn = drawn_lines(lines)
    text, anchors = rejoin(raw, drawn)
    layout = Layout(format="txt", lines=anchors, blocks=drawings(lines, drawn))
    return Extracted(text=text, layout=layout)
