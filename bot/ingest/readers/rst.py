"""reStructuredText through docutils' document tree; Sphinx roles shown as their text."""

from __future__ import annotations

import io
import re
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree

from bot.ingest.readers.base import Extracted, TextBuilder, decode_text
from bot.ingest.readers.markdown import role_text

# Sphinx roles (:ref:, :func:...) are unknown to plain docutils, which keeps them as
# "problematic" raw text: shown as the text a built page would show.
_RAW_ROLE = re.compile(r"^:[\w:.+-]+:`(.*)`$", re.DOTALL)
_SKIP = (
    nodes.system_message,
    nodes.comment,
    nodes.substitution_definition,
    nodes.target,
    nodes.raw,
    nodes.pending,
    nodes.footnote,
    nodes.citation,
)
_CODE = (nodes.literal_block, nodes.doctest_block, nodes.math_block)
SETTINGS = {
    "report_level": 5,  # problems are dropped from the text, not printed
    "halt_level": 5,
    "doctitle_xform": False,  # the first title stays a section, so sections nest under it
    "file_insertion_enabled": False,  # never read other files (include::, raw:: file)
    "raw_enabled": False,
    "warning_stream": None,
}


class _Walker:
    def __init__(self) -> None:
        self.out = TextBuilder("rst")
        self.depth = 0

    def block(self, node: nodes.Element) -> None:
        if isinstance(node, _SKIP):
            return
        out = self.out
        if isinstance(node, nodes.section):
            self.depth += 1
            for child in node.children:
                if isinstance(child, nodes.Element):
                    self.block(child)
            self.depth -= 1
        elif isinstance(node, nodes.table):
            out.end_block()
            for row in node.findall(nodes.row):
                # Rows have no line of their own; their cells' paragraphs do.
                out.at_line(_line(next(iter(row.findall(nodes.paragraph)), row)))
                cells = [" ".join(entry.astext().split()) for entry in row.children]
                out.literal(" | ".join(cells))
                out.hard_break()
            out.end_block("table")
        elif isinstance(node, _CODE):
            out.end_block()
            text = node.astext()
            line = node.line
            # docutils gives a directive's code block the line of its last line.
            out.at_line(line - text.count("\n") if line else None)
            out.literal(text.strip("\n"))
            out.end_block("code")
        elif isinstance(node, nodes.TextElement):
            out.end_block()
            heading = isinstance(node, nodes.title) and isinstance(node.parent, nodes.section)
            line = _line(node)
            # A section title's line is that of its underline.
            out.at_line(line - 1 if heading and line and line > 1 else line)
            self.inline(node)
            out.end_block("heading" if heading else "para", self.depth if heading else 0)
        else:
            for child in node.children:
                if isinstance(child, nodes.Element):
                    self.block(child)

    def inline(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Text):
            self.out.inline(str(node))
        elif isinstance(node, nodes.problematic):
            raw = node.astext()
            m = _RAW_ROLE.match(raw)
            self.out.inline(role_text(m.group(1)) if m else raw)
        elif isinstance(node, nodes.image):
            self.out.inline(str(node.get("alt", "")))
        elif isinstance(node, (*_SKIP, nodes.footnote_reference, nodes.citation_reference)):
            return
        elif isinstance(node, nodes.Element):
            for child in node.children:
                self.inline(child)


def _line(node: Any) -> int | None:
    while node is not None:
        if getattr(node, "line", None):
            return int(node.line)
        node = node.parent
    return None


def read_rst(data: bytes) -> Extracted:
    """An .rst file: its first section title is the document title."""
    text = decode_text(data)
    doctree = publish_doctree(
        text, settings_overrides={**SETTINGS, "warning_stream": io.StringIO()}
    )
    walker = _Walker()
    walker.block(doctree)
    return walker.out.build()
