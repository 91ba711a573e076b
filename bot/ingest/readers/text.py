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


# A numbered section title ("2.3. Member format", "1.1 What is curl?"): its numbers, its words.
_NUMBERED = re.compile(r"[ \t]{0,8}(\d{1,3}(?:\.\d{1,3})*)\.?[ \t]+(\S.*)")
# The line under a title that makes it one (Setext): "=====" (level 1) or "-----" (level 2).
_UNDERLINE = re.compile(r"[ \t]*(=|-)\1{2,}[ \t]*")
# A contents entry's dot leaders and page number ("Usage ........ 7").
DOT_LEADERS = re.compile(r"(\.\s?){4,}\s*\d+\s*$")
MAX_HEADING = 80  # characters: a longer line is a sentence, not a title


def _numbered(line: str) -> tuple[int, int] | None:
    """(depth, last number) of a numbered title line, or None. A title has no closing
    punctuation but a question mark, and no dot leaders (a contents entry)."""
    m = _NUMBERED.fullmatch(line.rstrip())
    if not m or len(line.strip()) > MAX_HEADING or DOT_LEADERS.search(line):
        return None
    if m.group(2).rstrip().endswith((".", ",", ";", ":")):
        return None
    numbers = m.group(1).split(".")
    return len(numbers), int(numbers[-1])


def headings(lines: Sequence[str], drawn: Sequence[bool]) -> tuple[tuple[int, int, int], ...]:
    """(start, end, level) of the section titles of a plain text (offsets into the joined
    lines, which rejoin does not move). A title stands alone between blank lines: a numbered
    one ("2.3. Member format": level 3, the count of its numbers) that is no item of a list
    of its depth ("1. Run it", then "2. Check it"), or any short line
    underlined with "===" or "---" (Setext: levels 1 and 2). A contents list, its entries on
    consecutive lines, has none."""
    starts = list(itertools.accumulate((len(line) + 1 for line in lines), initial=0))
    numbering = [_numbered(line) for line in lines]
    out: list[tuple[int, int, int]] = []

    def blank(i: int) -> bool:
        return i < 0 or i >= len(lines) or not lines[i].strip()

    def span(i: int) -> tuple[int, int]:
        line = lines[i]
        lead = len(line) - len(line.lstrip())
        return starts[i] + lead, starts[i] + len(line.rstrip())

    for i, line in enumerate(lines):
        if blank(i) or drawn[i]:
            continue
        under = i + 1 < len(lines) and _UNDERLINE.fullmatch(lines[i + 1])
        if under and blank(i - 1) and len(line.strip()) <= MAX_HEADING:
            out.append((*span(i), 1 if under.group(1) == "=" else 2))
            continue
        numbered = numbering[i]
        if numbered is None or not blank(i - 1) or not blank(i + 1):
            continue
        after = next((j for j in range(i + 1, len(lines)) if not blank(j)), None)
        before = next((j for j in range(i - 1, -1, -1) if not blank(j)), None)
        depth, n = numbered
        if (after is not None and numbering[after] == (depth, n + 1)) or (
            before is not None and numbering[before] == (depth, n - 1)
        ):
            continue  # an item of a list whose items stand between blank lines
        out.append((*span(i), depth))
    return tuple(out)


def read_text(data: bytes) -> Extracted:
    """A .txt file: hard-wrapped paragraphs joined, drawings marked as blocks, numbered and
    underlined section titles found (headings); its title comes from corpus.derive_title."""
    raw = decode_text(data)
    lines = raw.split("\n")
    drawn = drawn_lines(lines)
    text, anchors = rejoin(raw, drawn)
    layout = Layout(
        format="txt", lines=anchors, blocks=drawings(lines, drawn), headings=headings(lines, drawn)
    )
    return Extracted(text=text, layout=layout)
