"""Word (.docx) through python-docx: paragraphs and tables in document order; heading styles
("Title", "Heading 1"...) give the sections."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from bot.ingest.readers.base import Extracted, TextBuilder, UnreadableError

_HEADING_STYLE = re.compile(r"heading\s*(\d)", re.IGNORECASE)


def _level(paragraph: Paragraph) -> int:
    """Heading level of a paragraph from its style (Title = 1, Heading N = N), else 0."""
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    if name.lower() == "title":
        return 1
    m = _HEADING_STYLE.match(name)
    return int(m.group(1)) if m else 0


# Paragraph styles that set code: pandoc's "Source Code", Word's "HTML Preformatted", "Macro
# Text" and "Plain Text", and the usual names of a style of one's own.
_CODE_STYLES = frozenset(
    ["source code", "html preformatted", "macro text", "plain text", "code", "code block"]
)
_MONOSPACE = re.compile(r"courier|consolas|menlo|monaco|mono|lucida console|source code", re.I)


def _is_code(paragraph: Paragraph) -> bool:
    """Whether a paragraph is code: a code style (or one based on it), or every run of its
    text in a monospace font."""
    style = paragraph.style
    while style is not None:
        if (style.name or "").lower() in _CODE_STYLES:
            return True
        style = style.base_style
    runs = [r for r in paragraph.runs if r.text.strip()]
    return bool(runs) and all(_MONOSPACE.search(_font(r, paragraph) or "") for r in runs)


def _font(run: Any, paragraph: Paragraph) -> str | None:
    """The run's font: its own, else its character style's, else the paragraph style's."""
    for style in (run, run.style, paragraph.style):
        name = style.font.name if style is not None else None
        if name:
            return str(name)
    return None


def _blocks(document: Any) -> list[Paragraph | Table]:
    body = document.element.body
    out: list[Paragraph | Table] = []
    for child in body.iterchildren():
        if child.tag.endswith("}p"):
            out.append(Paragraph(child, document))
        elif child.tag.endswith("}tbl"):
            out.append(Table(child, document))
    return out


def read_docx(data: bytes) -> Extracted:
    """A .docx file: the core properties' title, else its first heading."""
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableError(f"corrupt or not a Word document ({exc})") from exc
    out = TextBuilder("docx")
    # A title style counts as level 1, so Heading 1 under it nests one deeper.
    has_title = any(
        isinstance(b, Paragraph) and b.style is not None and (b.style.name or "") == "Title"
        for b in _blocks(document)
    )
    code = False  # consecutive code paragraphs are one block of code
    for block in _blocks(document):
        level = _level(block) if isinstance(block, Paragraph) else 0
        # A heading in a code font is still a heading.
        is_code = isinstance(block, Paragraph) and not level and _is_code(block)
        if code and not is_code:
            out.end_block("code")
            code = False
        if isinstance(block, Table):
            for row in block.rows:
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                # Merged cells repeat in python-docx's rows; show each once.
                shown = [c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1]]
                out.literal(" | ".join(shown))
                out.hard_break()
            out.end_block("table")
            continue
        if is_code:
            out.literal(("\n" if code else "") + block.text)
            code = True
            continue
        if level and has_title and (block.style is None or block.style.name != "Title"):
            level = min(level + 1, 6)
        for k, part in enumerate(block.text.split("\n")):  # a manual line break
            if k:
                out.hard_break()
            out.inline(part)
        out.end_block("heading" if level else "para", level)
    if code:
        out.end_block("code")
    title = (document.core_properties.title or "").strip() or None
    return out.build(title=title)
