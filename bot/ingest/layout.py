"""Where extracted text came from: a compact map from text offsets to page, line and section.

A reader turns a file into the text a person reads; the Layout stored beside that text turns
any [start, end) range of it back into a location in the file, without re-reading the file.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from typing import Any

SECTION_SEPARATOR = " › "
# How a sentence ends: one that ends so is prose, not a heading (Layout.reads_as_heading).
_CLOSERS = (".", "!", "?", "…", '"', "”", "’", "'", ")", "]", ":", ";")
# A line alone with more words than this is prose or code, not a heading the reader missed.
_TITLE_WORDS = 9


@dataclass(frozen=True)
class Location:
    """A citation: page (paged formats), 1-based source lines (text formats), heading path."""

    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    section: str | None = None


@dataclass(frozen=True)
class Layout:
    """The offset tables of one document's extracted text.

    lines: (offset, line) anchors; the line of an offset is that of the last anchor at or
    before it plus the newlines of the text between them (so a plain text needs one anchor).
    pages: the start offset of each page. headings: (start, end, level) of each heading (an
    empty one, start == end, ends the sections at its level: see section_of).
    blocks: (start, end) of code and table blocks, kept as text but never the answer.
    """

    format: str = "txt"
    lines: tuple[tuple[int, int], ...] = ((0, 1),)
    pages: tuple[int, ...] = ()
    headings: tuple[tuple[int, int, int], ...] = ()
    blocks: tuple[tuple[int, int], ...] = ()
    _starts: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(a for a, _ in self.lines))

    def line_of(self, text: str, offset: int) -> int | None:
        """1-based source line of the character at offset, or None if the format has none."""
        if not self.lines:
            return None
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return None
        anchor, line = self.lines[i]
        return line + text.count("\n", anchor, offset)

    def page_of(self, offset: int) -> int | None:
        """1-based page of offset, or None for formats without pages."""
        return bisect.bisect_right(self.pages, offset) if self.pages else None

    def section_of(self, text: str, offset: int) -> str | None:
        """The heading path that offset falls under (titles joined by SECTION_SEPARATOR).
        An empty heading (start == end) only ends the sections at its level and deeper: a
        reader's mark that a directive's labelled section (a tab) ends there."""
        path = self._open_headings(offset)
        return SECTION_SEPARATOR.join(" ".join(text[s:e].split()) for s, e, _ in path) or None

    def headings_above(self, text: str, offset: int) -> list[str]:
        """The titles of the headings a passage starting at offset sits under, outermost
        first. A heading starting at offset is the passage's own, not above it, and neither
        is the sibling section it closes."""
        path = self._open_headings(offset)
        if path and path[-1][0] == offset:
            path = path[:-1]
        return [t for s, e, _ in path if (t := " ".join(text[s:e].split()))]

    def heading_of(self, offset: int) -> tuple[int, int] | None:
        """The [start, end) of the innermost heading that offset falls under (the last of
        section_of's path), or None before the first heading."""
        path = self._open_headings(offset)
        return (path[-1][0], path[-1][1]) if path else None

    @functools.cached_property
    def _heading_starts(self) -> tuple[int, ...]:
        return tuple(start for start, _, _ in self.headings)

    @functools.cached_property
    def _paths(self) -> tuple[tuple[tuple[int, int, int], ...], ...]:
        """After each heading (in order), the headings whose sections are open, outermost
        first: made once per document, read by a bisection at every quote."""
        path: list[tuple[int, int, int]] = []
        out: list[tuple[tuple[int, int, int], ...]] = []
        for start, end, level in self.headings:
            while path and path[-1][2] >= level:
                path.pop()
            if end > start:
                path.append((start, end, level))
            out.append(tuple(path))
        return tuple(out)

    def _open_headings(self, offset: int) -> tuple[tuple[int, int, int], ...]:
        """The headings (start, end, level) whose sections hold offset, outermost first."""
        i = bisect.bisect_right(self._heading_starts, offset) - 1
        return self._paths[i] if i >= 0 else ()

    def locate(self, text: str, start: int, end: int) -> Location:
        """Page, lines and section of the text range [start, end)."""
        last = max(start, end - 1)
        return Location(
            page=self.page_of(start),
            line_start=self.line_of(text, start),
            line_end=self.line_of(text, last),
            section=self.section_of(text, start),
        )

    def is_heading(self, start: int, end: int) -> bool:
        """Whether [start, end) lies inside a heading (headings do not overlap: only those
        starting last at or before start can hold it)."""
        starts = self._heading_starts
        i = bisect.bisect_right(starts, start) - 1
        last = starts[i] if i >= 0 else None
        while i >= 0 and starts[i] == last:
            if end <= self.headings[i][1]:
                return True
            i -= 1
        return False

    def reads_as_heading(self, text: str, start: int, end: int) -> bool:
        """Whether [start, end) of text is a heading: marked so by its reader, or (plain text
        and PDF, whose readers may miss some) alone on its line with no closing punctuation
        and at most _TITLE_WORDS words."""
        if self.is_heading(start, end):
            return True
        if self.format not in ("txt", "pdf"):
            return False  # the reader knows its headings; a short list item is not one
        if text[start:end].rstrip().endswith(_CLOSERS):
            return False
        if len(text[start:end].split()) > _TITLE_WORDS:
            return False  # a line of prose or code ("We do not support auth-int for ...")
        before = text[max(0, start - 2) : start]
        after = text[end : end + 2]
        return (start == 0 or before.endswith("\n")) and (
            end >= len(text) or after.startswith("\n")
        )

    def is_block(self, start: int, end: int) -> bool:
        """Whether [start, end) overlaps a code or table block."""
        return any(s < end and start < e for s, e in self.blocks)

    def to_json(self) -> dict[str, Any]:
        """The layout as plain lists (stored in documents.jsonl and the extraction cache)."""
        return {
            "format": self.format,
            "lines": [list(x) for x in self.lines],
            "pages": list(self.pages),
            "headings": [list(x) for x in self.headings],
            "blocks": [list(x) for x in self.blocks],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Layout:
        """Inverse of to_json."""
        return cls(
            format=str(data["format"]),
            lines=tuple((int(a), int(b)) for a, b in data["lines"]),
            pages=tuple(int(p) for p in data["pages"]),
            headings=tuple((int(a), int(b), int(c)) for a, b, c in data["headings"]),
            blocks=tuple((int(a), int(b)) for a, b in data["blocks"]),
        )
