"""PDF through pdfium's text layer: pages joined by form feeds, paragraphs and headings found
from the layout of the lines, words hyphenated across line ends joined again."""

from __future__ import annotations

import ctypes
import itertools
import re
import statistics
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from bot.ingest.readers.base import Extracted, TextBuilder, UnreadableError

# A gap between lines this many times the usual line pitch ends a paragraph.
PARAGRAPH_GAP = 1.4
# A line whose font is this much larger than the body text is a heading.
HEADING_RATIO = 1.15
# A heading's next line at most this many times its own pitch (the body's, scaled to its size)
# below it goes on with it (_paragraphs).
HEADING_LEADING = 1.15
# Lines of a paragraph are set at most this many times their size apart (single spacing is
# 1.15-1.35 in the development PDFs and the printed pages; a paragraph gap adds half a line).
LEADING = 1.45
MAX_RUNNING = 100  # a running head or foot is short; a line of prose may repeat by chance
_SOFT_HYPHEN = "\ufffe"  # pdfium's mark for a hyphen it recognised at a line end


@dataclass
class _Line:
    text: str
    top: float
    bottom: float
    size: float
    item: bool = False  # a list item's first line: a bullet was drawn beside it
    mono: bool = False  # set in a fixed-pitch font: a line of code


# A list's bullet drawn as text of its own (WeasyPrint, browsers' print to PDF): a marker, not
# a word, as the other readers drop list markers; the line beside it starts an item.
_BULLETS = frozenset("•◦▪▫●○■□‣⁃∙·")


def _lines(page: pdfium.PdfPage) -> list[_Line]:
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        out: list[_Line] = []
        pos = 0
        for raw in text.split("\n"):
            line = raw.rstrip("\r")
            # Measure the line at its first letter or digit: a bullet may be in another font.
            lead = next((i for i, c in enumerate(line) if c.isalnum()), None)
            if lead is None:
                lead = len(line) - len(line.lstrip())
            first = pos + lead
            pos += len(raw) + 1
            if not line.strip():
                continue
            try:
                _, bottom, _, top = textpage.get_charbox(first, loose=True)
            except pdfium.PdfiumError:  # a character pdfium generated has no box
                top = bottom = out[-1].bottom if out else 0.0
            # The box's height is the size as printed: many PDFs draw text at a nominal size
            # of 1 scaled by a matrix, which FPDFText_GetFontSize does not include.
            size = top - bottom
            if size <= 0:
                size = pdfium_c.FPDFText_GetFontSize(textpage, first)
            mono = _fixed_pitch(textpage, pos - len(raw) - 1, line)
            out.append(_Line(line.strip(), top, bottom, round(float(size), 1), mono=mono))
        return out
    finally:
        textpage.close()


_FIXED_PITCH = 1  # FPDF_FONT_FIXEDPITCH, a font descriptor flag (PDF 1.7, table 123)
_MONOSPACE = re.compile(r"mono|courier|consolas|menlo|monaco|code", re.IGNORECASE)


def _fixed_pitch(textpage: pdfium.PdfTextPage, start: int, line: str) -> bool:
    """Whether a line is set in a fixed-pitch font: its first, middle and last characters
    that are not spaces (a word of code inside a line of prose is not enough)."""
    at = [i for i, c in enumerate(line) if not c.isspace()]
    if not at:
        return False
    name = ctypes.create_string_buffer(128)
    flags = ctypes.c_int(0)
    for i in {at[0], at[len(at) // 2], at[-1]}:
        flags.value = 0
        n = pdfium_c.FPDFText_GetFontInfo(textpage, start + i, name, 128, ctypes.byref(flags))
        if not (
            flags.value & _FIXED_PITCH or (n and _MONOSPACE.search(name.value.decode("latin-1")))
        ):
            return False
    return True


def _joined(prev: str, line: str) -> tuple[str, str]:
    """How line continues prev: a word hyphenated across the line end is joined again."""
    if prev.endswith(_SOFT_HYPHEN):
        return prev[:-1], line
    # "-" or the typographic hyphen (U+2010) that a hyphenating typesetter (WeasyPrint) puts
    if len(prev) > 1 and prev[-1] in "-\u2010" and prev[-2].isalpha() and line[:1].islower():
        return prev[:-1], line
    return prev, " " + line


# A paragraph ending so has ended; one ending otherwise at a page's foot goes on overleaf.
_ENDED = re.compile(r"[.!?\u2026:][\"'\u201d\u2019)\]]*$")


def _para_text(para: list[_Line]) -> str:
    """A paragraph's lines as one line, hyphenated words joined (pdfium's marks kept)."""
    text = para[0].text
    for line in para[1:]:
        text, rest = _joined(text, line.text)
        text += rest
    return text


@dataclass
class _Block:
    """A paragraph or heading: its text in parts, one per page it is on (from the first)."""

    level: int
    parts: list[str]
    pages: list[int]
    size: float  # of its last line
    code: bool = False  # lines of code, kept line by line

    def runs_on(self, first: _Line) -> bool:
        """Whether a page's first line goes on with this block, the last of the page before:
        code both, or body text both, of one size, and this one cut short of a sentence's
        end."""
        if self.code or first.mono:
            return self.code and first.mono
        return (
            not self.level
            and abs(first.size - self.size) <= 0.05 * self.size
            and not _ENDED.search(self.parts[-1].rstrip())
        )


def _paragraphs(
    lines: list[_Line], pitch: float, levels: dict[float, int], body: float
) -> list[list[_Line]]:
    """Lines grouped into paragraphs: a wider gap, a step up (a new column) or a change between
    heading and body size ends one. A word in another font inside a paragraph does not. A
    heading wrapped over two lines is one heading: its lines are set at the body's leading
    scaled to its size (1.21-1.22 x the size in the development PDFs), two headings one after
    the other further apart (1.48 x and more), so a larger type may step HEADING_LEADING x
    its own pitch."""
    paras: list[list[_Line]] = []
    for line in lines:
        if paras:
            prev = paras[-1][-1]
            step = prev.top - line.top
            same_kind = levels.get(prev.size) == levels.get(line.size)
            gap = max(PARAGRAPH_GAP, HEADING_LEADING * line.size / body) * pitch
            if 0 < step <= gap and same_kind and not line.item and line.mono == prev.mono:
                paras[-1].append(line)
                continue
        paras.append([line])
    return paras


def _heading_levels(sizes: set[float]) -> dict[float, int]:
    """Heading sizes, largest first, as levels 1-6; sizes within 5% share a level."""
    levels: dict[float, int] = {}
    level, anchor = 0, 0.0
    for size in sorted(sizes, reverse=True):
        if not level or size < 0.95 * anchor:
            level, anchor = min(level + 1, 6), size
        levels[size] = level
    return levels


def _bulleted(page: list[_Line]) -> list[_Line]:
    """The page's lines without bullets drawn as lines of their own, the line each stands
    beside (at its height, wherever the bullet came in the page's text) marked as an item."""
    bullets = [x for x in page if x.text in _BULLETS]
    if not bullets:
        return page
    out = [x for x in page if x.text not in _BULLETS]
    for x in out:
        x.item = any(abs(b.top - x.top) <= 0.5 * x.size for b in bullets)
    return out


def _edges(page: list[_Line], first: bool = True) -> set[int]:
    """Where a running head or a page number may be, by index: the page's first and last
    lines in its text's order and the highest and lowest on the page (a typesetter may draw
    the margins' text after the body). first: whether the first line counts (the first
    page's is its title; its highest is a running head when drawn after the first)."""
    if not page:
        return set()
    tops = [x.top for x in page]
    ends = {len(page) - 1, tops.index(min(tops)), tops.index(max(tops))}
    return ends | {0} if first else ends - {0}


def _running_lines(pages: list[list[_Line]]) -> set[str]:
    """Running heads and page numbers: a line at an edge of many pages (_edges), digits
    aside."""
    if len(pages) < 3:
        return set()
    counts: dict[str, int] = {}
    for page in pages:
        if len(page) < 3:  # a page of one or two lines is all content
            continue
        for line in {_shape(page[k].text) for k in _edges(page)}:
            if len(line) <= MAX_RUNNING:
                counts[line] = counts.get(line, 0) + 1
    return {line for line, n in counts.items() if n >= max(3, len(pages) // 2)}


def _shape(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.split()))


def read_pdf(data: bytes) -> Extracted:
    """A PDF's text layer, page by page; no text layer at all is an error (no OCR)."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise UnreadableError("encrypted PDF (needs a password)") from exc
        raise UnreadableError(f"corrupt or not a PDF ({exc})") from exc
    try:
        pages = [_bulleted(_lines(page)) for page in pdf]
        meta_title = (pdf.get_metadata_dict().get("Title") or "").strip()
    finally:
        pdf.close()
    all_lines = [line for page in pages for line in page]
    if not any(line.text for line in all_lines):
        raise UnreadableError("no text layer: OCR is not supported")
    body = statistics.median(line.size for line in all_lines) or 1.0
    pitches = [
        a.top - b.top
        for page in pages
        for a, b in itertools.pairwise(page)
        if a.top - b.top > 0 and abs(a.size - body) < 0.5 and abs(b.size - body) < 0.5
    ]
    # The line pitch: the median step between body lines set at most LEADING x their size
    # apart, where there are a few; the median of all steps is a paragraph gap where most
    # paragraphs are one line (a reference of options), so it is the fallback only.
    close = [x for x in pitches if x <= LEADING * body]
    pitch = statistics.median(close if len(close) >= 5 else pitches) if pitches else body * 1.2
    levels = _heading_levels({x.size for x in all_lines if x.size > HEADING_RATIO * body})
    running = _running_lines(pages)

    # Paragraphs of every page, running heads and page numbers dropped; a paragraph the page
    # end cut is one block over both pages.
    blocks: list[_Block] = []
    for n, page in enumerate(pages):
        if running and page:
            # Running heads and page numbers repeat on every page; they are not the text. The
            # first page's first line is its title, not a running head (_edges).
            ends = _edges(page, first=n > 0)
            page = [x for k, x in enumerate(page) if not (k in ends and _shape(x.text) in running)]
        for k, para in enumerate(_paragraphs(page, pitch, levels, body)):
            code = para[0].mono
            level = 0 if code else levels.get(para[0].size, 0)
            text = "\n".join(x.text for x in para) if code else _para_text(para)
            last = blocks[-1] if blocks else None
            if k == 0 and last is not None and last.pages[-1] == n - 1 and last.runs_on(para[0]):
                head, tail = (
                    (last.parts[-1], "\n" + text) if code else _joined(last.parts[-1], text)
                )
                last.parts[-1] = head
                last.parts.append(tail)
                last.pages.append(n)
                last.size = para[-1].size
            else:
                blocks.append(_Block(level, [text], [n], para[-1].size, code))

    out = TextBuilder("pdf")
    at_page = 0
    for block in blocks:
        while at_page < block.pages[0]:
            out.page_break()
            at_page += 1
        for k, (n, part) in enumerate(zip(block.pages, block.parts, strict=True)):
            if k:  # the page turns inside this paragraph
                if block.code:
                    out.hard_break()  # code goes on overleaf on a line of its own
                elif part.startswith(" "):
                    out.inline(" ")
                out.page_turn()
                at_page = n
            text = part.lstrip(" \n").replace(_SOFT_HYPHEN, "")
            if block.code:
                out.literal(text)
            else:
                out.inline(text)
        out.end_block("code" if block.code else "heading" if block.level else "para", block.level)
    while at_page < len(pages) - 1:
        out.page_break()
        at_page += 1
    heading = next((b.parts[0] for b in blocks if b.level), "")  # one page: not run on
    return out.build(
        title=meta_title or " ".join(heading.replace(_SOFT_HYPHEN, "").split()) or None
    )
