"""HTML: the main content only (navigation, header, footer, scripts dropped), as plain text."""

from __future__ import annotations

import re
from typing import Any

import lxml.etree
import lxml.html

from bot.ingest.readers.base import Extracted, TextBuilder, UnreadableError
from bot.ingest.readers.directives import close_section, label_level

# Elements that are never content.
DROP_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "button",
        "select",
        "svg",
        "iframe",
        "head",
        "object",
        "canvas",
        "dialog",
        "menu",
    ]
)
DROP_ROLES = frozenset(["navigation", "banner", "contentinfo", "complementary", "search", "menu"])
# Class names of chrome in common documentation themes (Sphinx, MkDocs, Read the Docs).
DROP_CLASSES = frozenset(
    [
        "headerlink",
        "sphinxsidebar",
        "related",
        "sidebar",
        "navbar",
        "breadcrumb",
        "breadcrumbs",
        "toc",
        "skip-link",
        "sr-only",
        "visually-hidden",
        "md-sidebar",
        "md-header",
        "md-footer",
        "rst-versions",
        # PyData and Sphinx Book themes: the article's header buttons, the "On this page"
        # sidebar, the previous/next links and a copy of the title kept for printing.
        "bd-header-article",
        "bd-sidebar-primary",
        "bd-sidebar-secondary",
        "prev-next-area",
        "onlyprint",
        # DocBook's and gtk-doc's navigation bars, Texinfo 7's ("Next: …, Previous: …, Up: …").
        "navheader",
        "navfooter",
        "navigation",
        "nav-panel",
    ]
)
# A permalink beside a heading ("#" in Node.js's and GitHub's pages, "¶", "§"): not a word.
_PERMALINK = frozenset(["#", "¶", "§"])
# Links a navigation line is made of (Texinfo's, DocBook's: rel="next", "prev", "up").
_NAV_RELS = frozenset(["next", "prev", "previous", "up"])
HEADINGS = {f"h{n}": n for n in range(1, 7)}
_ANY_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)
BLOCKS = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "figure",
        "figcaption",
        "address",
        "details",
        "summary",
        "hr",
        "body",
        "center",
        "fieldset",
        "legend",
        "caption",
    ]
)


# A Sphinx object description's signature: <dt class="sig sig-object py"> (Sphinx 4 and
# later), or a <dt> holding a descname (earlier).
_NAMED = (
    ".//*[contains(concat(' ', normalize-space(@class), ' '), ' descname ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' sig-name ')]"
)


def _signature(el: Any) -> bool:
    if not isinstance(el.tag, str) or el.tag.lower() != "dt":
        return False
    return "sig-object" in (el.get("class") or "").split() or bool(el.xpath(_NAMED))


def _dropped(el: Any) -> bool:
    if el.tag in DROP_TAGS or el.get("role") in DROP_ROLES:
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    if DROP_CLASSES.intersection((el.get("class") or "").split()):
        return True
    if el.tag == "a":
        return (el.get("href") or "").startswith("#") and el.text_content().strip() in _PERMALINK
    return el.tag in ("p", "div", "table") and _navigation(el)


def _shown_text(el: Any) -> str:
    """el's text without what is dropped inside it (a code block's "copy" button)."""
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and not _dropped(child):
            parts.append(_shown_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _navigation(el: Any) -> bool:
    """Whether el is a line of links to the next, previous and parent pages and little else
    (Texinfo's "Next: Index, Previous: Memory Usage, Up: libffi [Index]")."""
    links = [a for a in el.iter("a") if _NAV_RELS.intersection((a.get("rel") or "").split())]
    if not links:
        return False
    rest = el.text_content()
    for a in links:
        rest = rest.replace(a.text_content(), "", 1)
    return len(rest.strip()) <= 60


def _main(doc: Any) -> Any:
    """The element holding the page's content: <main>, role=main, a lone <article>, or <body>."""
    for path in ("//main", "//*[@role='main']"):
        found = doc.xpath(path)
        if found:
            return found[0]
    articles = doc.xpath("//article")
    if len(articles) == 1:
        return articles[0]
    body = doc.find("body")
    return body if body is not None else doc


class _Walker:
    """Writes what a reader sees of an element into out; first: the source line of the
    parsed HTML's first line (a block of HTML inside a Markdown file starts further down)."""

    def __init__(self, out: TextBuilder | None = None, first: int = 1) -> None:
        self.out = TextBuilder("html") if out is None else out
        self.shift = first - 1

    def line(self, el: Any) -> int | None:
        return None if el.sourceline is None else el.sourceline + self.shift

    def walk(self, el: Any) -> None:
        out = self.out
        if not isinstance(el.tag, str):  # a comment or processing instruction
            self.tail(el)
            return
        if _dropped(el):
            self.tail(el)
            return
        out.at_line(self.line(el))
        tag = el.tag.lower()
        if tag in HEADINGS:
            self.heading(el, HEADINGS[tag])
        elif tag == "pre":
            out.end_block()
            out.at_line(self.line(el))
            out.literal(_shown_text(el).strip("\n"))
            out.end_block("code")
        elif tag == "table":
            out.end_block()
            for row in el.iter("tr"):
                out.at_line(self.line(row))
                cells = [" ".join(c.text_content().split()) for c in row if c.tag in ("td", "th")]
                out.literal(" | ".join(cells))
                out.hard_break()
            out.end_block("table")
        elif tag == "dl" and any(_signature(child) for child in el):
            self.description(el)
        elif tag in BLOCKS:
            out.end_block()
            out.at_line(self.line(el))
            self.flow(el)
            out.end_block()
        elif tag == "br":
            out.hard_break()
        elif tag == "img":
            out.inline(el.get("alt") or "")
        else:
            self.flow(el)
        self.tail(el)

    def description(self, el: Any) -> None:
        """A Sphinx object description (a function, an option, a setting): its signature a
        heading over its description, as the reStructuredText reader reads its source, the
        section ending with the description."""
        out = self.out
        out.end_block()
        level = label_level(out)
        if el.text:
            out.inline(el.text)
        for child in el:
            if _signature(child):
                self.heading(child, level)
                self.tail(child)
            else:
                self.walk(child)
        close_section(out, level)

    def heading(self, el: Any, level: int) -> None:
        out = self.out
        out.end_block()
        out.at_line(self.line(el))
        self.flow(el)
        out.end_block("heading", level)

    def flow(self, el: Any) -> None:
        if el.text:
            self.out.inline(el.text)
        for child in el:
            self.walk(child)

    def tail(self, el: Any) -> None:
        if el.tail:
            self.out.inline(el.tail)


def html_block(out: TextBuilder, html: str, first: int) -> None:
    """A block of HTML inside another document (a Markdown file's <table>, <details>, <div>),
    read into out as a page's content is: rows of a table on lines of their own, headings as
    headings, <pre> as code; first is the source line of its first line."""
    out.end_block()
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.LxmlError, ValueError):  # what lxml cannot read: its text, tags out
        out.at_line(first)
        out.inline(_ANY_TAG.sub(" ", html))
    else:
        _Walker(out, first).walk(root)
    out.end_block()


def read_html(data: bytes) -> Extracted:
    """An HTML page: <title> (else the first h1) as title, <link rel=canonical> as URL."""
    if b"\x00" in data[:8192]:
        raise UnreadableError("binary file, not text (holds NUL bytes)")
    try:
        data.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    # Bytes that are valid UTF-8 are read as UTF-8 (lxml would guess Latin-1 for a page that
    # declares no charset); others are left to the page's own declaration.
    parser = lxml.html.HTMLParser(encoding="utf-8" if utf8 else None)
    try:
        doc = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise UnreadableError(f"not readable as HTML ({exc})") from exc
    title = " ".join(doc.findtext(".//title", default="").split()) or None
    if title is None and (h1 := doc.find(".//h1")) is not None:
        title = " ".join(h1.text_content().split()) or None
    url = None
    for link in doc.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            url = link.get("href").strip()
            break
    walker = _Walker()
    walker.walk(_main(doc))
    return walker.out.build(title=title, url=url)
