"""What every reader returns, and the builder that keeps the offset map while text is added."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.ingest.layout import Layout

_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
PARAGRAPH_BREAK = "\n\n"


class UnreadableError(Exception):
    """A file that cannot be read as its type says; the message is the reason, for a warning."""


@dataclass(frozen=True)
class Extracted:
    """The text a person reads in a file, its title and URL when the file names them, its map."""

    text: str
    layout: Layout
    title: str | None = None
    url: str | None = None


def decode_text(data: bytes) -> str:
    """UTF-8 text of a text file, without BOM, newlines as \\n; UnreadableError if it is not."""
    if b"\x00" in data[:8192]:
        raise UnreadableError("binary file, not text (holds NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableError(f"not valid UTF-8 (byte {exc.start})") from exc
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise UnreadableError("the file is empty")
    return text


class TextBuilder:
    """Extracted text assembled block by block (paragraph, heading, code, table), recording
    for each block its source line, page and kind, so offsets map back to the file.

    Inline text has its whitespace collapsed (a hard-wrapped paragraph becomes one line); each
    source newline inside it leaves a line anchor, so every character keeps its source line.
    """

    def __init__(self, fmt: str) -> None:
        self.format = fmt
        self.parts: list[str] = []
        self.size = 0
        self.lines: list[tuple[int, int]] = []
        self.pages: list[int] = [0]
        self.headings: list[tuple[int, int, int]] = []
        self.blocks: list[tuple[int, int]] = []
        self._page_breaks = 0
        self._turns: list[int] = []  # block offsets where a page begins inside the block
        self._buf: list[str] = []
        self._blen = 0
        self._anchors: list[tuple[int, int]] = []
        self._pending: int | None = None  # line of the next character added
        self.line: int | None = None  # the source line being read, when known

    # ------------------------------------------------------------ the current block

    def at_line(self, line: int | None) -> None:
        """The next text comes from this source line."""
        if line is not None:
            self.line = line
            self._pending = line

    def _last_char(self) -> str:
        return self._buf[-1][-1] if self._buf else ""

    def _append(self, piece: str) -> None:
        if self._pending is None and not self._blen and self.line is not None:
            self._pending = self.line  # a block with no line of its own: the line being read
        if self._pending is not None:
            self._anchors.append((self._blen, self._pending))
            self._pending = None
        self._buf.append(piece)
        self._blen += len(piece)

    def inline(self, raw: str) -> None:
        """Add flowing text: runs of whitespace, newlines included, become one space."""
        for k, seg in enumerate(raw.split("\n")):
            if k:
                if self._buf and self._last_char() not in " \n":
                    self._buf.append(" ")
                    self._blen += 1
                if self.line is not None:
                    self.at_line(self.line + 1)
            piece = _SPACES.sub(" ", seg)
            if piece.startswith(" ") and (not self._buf or self._last_char() in " \n"):
                piece = piece[1:]
            if piece:
                self._append(piece)

    def hard_break(self) -> None:
        """A line break the author meant (<br>, Markdown hard break, a table row)."""
        if self._buf:
            self._rstrip()
            self._buf.append("\n")
            self._blen += 1

    def literal(self, raw: str) -> None:
        """Add text verbatim (code): its newlines are kept and counted as source lines."""
        if raw:
            self._append(raw)
            if self.line is not None:
                self.line += raw.count("\n")

    def _rstrip(self) -> None:
        while self._buf and self._buf[-1] != self._buf[-1].rstrip(" "):
            last = self._buf.pop().rstrip(" ")
            self._blen = sum(map(len, self._buf))
            if last:
                self._buf.append(last)
                self._blen += len(last)
                break

    def end_block(self, kind: str = "para", level: int = 0) -> None:
        """Close the current block; kind is para, heading (with level), code or table."""
        body = "".join(self._buf).strip(" \n")
        lead = len("".join(self._buf)) - len("".join(self._buf).lstrip(" \n"))
        anchors = [(max(0, a - lead), ln) for a, ln in self._anchors if a - lead < len(body)]
        inside = [max(0, t - lead) for t in self._turns if t - lead < len(body)]
        after = len(self._turns) - len(inside)  # turns after the block's last text
        self._buf, self._blen, self._anchors, self._turns = [], 0, [], []
        if not body:
            self._page_breaks += after
            return
        if self.size:
            sep = "\n" + "\f" * self._page_breaks + "\n" if self._page_breaks else PARAGRAPH_BREAK
            self._add(sep)
        start = self.size
        for _ in range(self._page_breaks):
            self.pages.append(start)
        self._page_breaks = after  # they begin with the next block
        self.pages.extend(start + t for t in inside)
        self.lines.extend((start + a, ln) for a, ln in anchors)
        self._add(body)
        if kind == "heading":
            self.headings.append((start, self.size, level))
        elif kind in ("code", "table"):
            self.blocks.append((start, self.size))

    def _add(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)

    def page_break(self) -> None:
        """The blocks that follow are on the next page."""
        self.end_block()
        self._page_breaks += 1

    def page_turn(self) -> None:
        """The current block runs on to the next page (a paragraph cut by the page end): the
        text added next begins that page. The block stays one, without a form feed."""
        self._turns.append(self._blen)

    def build(self, *, title: str | None = None, url: str | None = None) -> Extracted:
        """The finished text and its layout; UnreadableError if no text was found."""
        self.end_block()
        text = "".join(self.parts)
        if not text.strip():
            raise UnreadableError("no text found in it")
        # Only paged formats call page_break; a trailing empty page starts at the end.
        pages = self.pages + [self.size] * self._page_breaks if self.format == "pdf" else []
        layout = Layout(
            format=self.format,
            lines=tuple(self.lines),
            pages=tuple(pages),
            headings=tuple(self.headings),
            blocks=tuple(self.blocks),
        )
        return Extracted(text=text, layout=layout, title=title, url=url)
