"""Plain text: kept as written, except that hard-wrapped paragraphs are joined into one line."""

from __future__ import annotations

import itertools
import re

from bot.ingest.layout import Layout
from bot.ingest.readers.base import Extracted, decode_text

# A line that starts a list item or is indented stays on its own line.
_OWN_LINE = re.compile(r"\s|[-*+•–]\s|\d{1,3}[.)]\s|[A-Za-z][.)]\s")
# A line shorter than this is a title, an address line, a verse: not wrapped prose.
MIN_WRAPPED = 30


def rejoin(text: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """text with each newline inside a wrapped paragraph replaced by a space (so offsets do not
    move), and the line anchors that keep the source line of every character."""
    chars = list(text)
    anchors = [(0, 1)]
    lines = text.split("\n")
    pos = 0
    for n, (line, nxt) in enumerate(itertools.pairwise(lines), 1):
        pos += len(line)  # pos is the newline after line n
        if (
            line.strip()
            and nxt.strip()
            and len(line.strip()) >= MIN_WRAPPED
            and not _OWN_LINE.match(nxt)
        ):
            chars[pos] = " "
            anchors.append((pos + 1, n + 1))
        pos += 1
    return "".join(chars), tuple(anchors)


def read_text(data: bytes) -> Extracted:
    """A .txt file: hard-wrapped paragraphs joined; its title comes from corpus.derive_title."""
    text, anchors = rejoin(decode_text(data))
    return Extracted(text=text, layout=Layout(format="txt", lines=anchors))
