"""One reader per file format: each turns a file's bytes into the text a person reads plus the
map from that text back to pages, lines and sections (bot.ingest.layout.Layout)."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from bot.ingest.readers.base import Extracted, UnreadableError

# Suffix -> (module, function). Imported on first use: `ask` should not load a PDF library.
READERS: dict[str, tuple[str, str]] = {
    ".txt": ("text", "read_text"),
    ".md": ("markdown", "read_markdown"),
    ".markdown": ("markdown", "read_markdown"),
    ".html": ("html", "read_html"),
    ".htm": ("html", "read_html"),
    ".pdf": ("pdf", "read_pdf"),
    ".docx": ("docx", "read_docx"),
    ".rst": ("rst", "read_rst"),
}
# Bump when any reader's output changes: cached extractions of older readers are not reused.
# 23: a navigation line of one such link (Texinfo's top page, "Next: ... [Index]"), and what is
# dropped inside a code block (Node.js's "copy" button) is not in its text;
# 22: HTML manuals' navigation inside the content: Texinfo's "Next: …, Previous: …, Up: …"
# line, DocBook's and gtk-doc's navigation bars, "#" and "§" permalinks (Node.js);
# 21: PDF as browsers and WeasyPrint print HTML: the line pitch from the steps between lines
# set close (the median of all steps was the paragraph gap where most paragraphs are one line),
# bullets drawn apart from their items start an item and are dropped, lines in a fixed-pitch
# font are code (kept line by line), U+2010 at a line end joins a word, and a running head or
# page number drawn after the body is found by its place on the page;
# 20: code in Word (a code style such as pandoc's "Source Code" or Word's "HTML Preformatted",
# or every run in a monospace font) is a code block, verbatim (it was prose);
# 19: a raw HTML block in Markdown reads as the HTML reader reads a page (a table's rows on
# lines of their own and flagged, headings, paragraphs; it was one paragraph): 191 files of
# the training and development documentation, 2 of eval/third_docs and 3 of pip's;
# 18: a link in a directive's or admonition's body resolves the document's reference
# definitions ([text][label]: its brackets were shown); template tags in an indented code
# block are code on a page whose tags are all in code (38 files of the training and
# development documentation, 2 of eval/real_docs and pip's, read otherwise);
# 17: the chrome of the PyData and Sphinx Book themes inside <main> (the article's header
# buttons, the title copied for printing, previous/next, "On this page") is dropped;
# 16: attribute blocks of paragraphs, links and images ({: .subtitle }, { .md-button },
# { width="300" }) show nothing, as a heading's did; MkDocs admonitions inside a list item read
# as at the top (44 files of the training documentation read otherwise);
# 15: GitBook's and Jekyll's Liquid tags ({% tab title="Go" %}, {% raw %}) show nothing outside
# code, as Hugo's shortcodes (174 files read otherwise);
# 14: Docusaurus's and VitePress's ::: containers (:::tip Title, ::: details) and MkDocs'
# admonitions (!!! note "Title") read as MyST's admonitions, their body Markdown (it was a code
# block, links and all); a mkdocstrings line (::: package.Name) and Hugo's shortcodes
# ({{< note >}}) show nothing (1,529 of the 5,339 Markdown files of the training and
# development documentation read otherwise);
# 13: sphinx-prompt's prompt, IPython's ipython and jupyter-sphinx's jupyter-execute are code
# blocks (their bodies were dropped), and a reStructuredText table cell reads as a paragraph
# does (docutils' messages about unknown roles were in its text);
# 12: a PDF heading wrapped over two lines is one heading (it was two, the second the section);
# 11: docutils' own class directive (no body) shows nothing, as before 9;
# 10: a Sphinx-built page's object descriptions (<dl class="py function">) are sections
# under their signature, as in their source; 9: Sphinx object descriptions (function,
# confval, py:class...) keep their signature and fields, an unknown directive its prose
# beside code; 8: Markdown heading attributes ({#id}) dropped, a title line needs a letter or
# digit; 7: plain-text section titles; 6: Markdown HTML comments dropped whole
READER_VERSION = 23

__all__ = ["READERS", "READER_VERSION", "Extracted", "UnreadableError", "read_bytes"]


def reader_for(suffix: str) -> Callable[[bytes], Extracted]:
    """The reader function for a file suffix (lower case, with the dot)."""
    module, name = READERS[suffix]
    reader: Callable[[bytes], Extracted] = getattr(
        importlib.import_module(f"bot.ingest.readers.{module}"), name
    )
    return reader


def read_bytes(data: bytes, suffix: str) -> Extracted:
    """Extract a file's text; UnreadableError (its message the reason) when that fails."""
    if not data.strip():
        raise UnreadableError("the file is empty")
    try:
        return reader_for(suffix)(data)
    except UnreadableError:
        raise
    except Exception as exc:  # a parser's own failure on a damaged file: name it, go on
        raise UnreadableError(f"corrupt or unreadable ({type(exc).__name__}: {exc})") from exc
