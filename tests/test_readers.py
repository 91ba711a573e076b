"""Format readers: the text a person reads, and offsets mapped back to page, line, section."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pytest
from docx.enum.style import WD_STYLE_TYPE
from fpdf import FPDF

from bot.errors import CorpusError
from bot.ingest import corpus
from bot.ingest.corpus import Document, load_corpus
from bot.ingest.layout import Layout
from bot.ingest.readers import UnreadableError, read_bytes
from bot.ingest.readers.directives import role_text
from bot.ingest.readers.text import rejoin


def at(extracted, needle):
    """Location of the first occurrence of needle in the extracted text."""
    start = extracted.text.index(needle)
    return extracted.layout.locate(extracted.text, start, start + len(needle))


def source_line(source: str, needle: str) -> int:
    return source[: source.index(needle)].count("\n") + 1


# ------------------------------------------------------------------ plain text


def test_txt_joins_hard_wrapped_paragraphs_and_keeps_each_line():
    src = (
        "A Title\n\n"
        "This paragraph was wrapped by an editor at a fixed\n"
        "width, so a line break sits in the middle of a\n"
        "sentence. It ends here.\n\n"
        "A list follows, one item per line here:\n"
        "- first item\n"
        "- second item\n"
    )
    e = read_bytes(src.encode(), ".txt")
    assert "at a fixed width, so a line break sits in the middle of a sentence." in e.text
    assert "- first item\n- second item" in e.text  # list lines stay lines
    assert len(e.text) == len(src)  # newlines became spaces: offsets did not move
    for needle in ("width, so", "sentence. It", "second item", "A Title"):
        loc = at(e, needle)
        assert loc.line_start == loc.line_end == source_line(src, needle)
    start = e.text.index("This paragraph")
    loc = e.layout.locate(e.text, start, e.text.index("ends here.") + 10)
    assert (loc.line_start, loc.line_end) == (3, 5)
    assert loc.page is None and loc.section is None


def test_short_lines_are_not_joined():
    text, anchors = rejoin("Roses are red\nViolets are blue\n")
    assert text == "Roses are red\nViolets are blue\n" and anchors == ((0, 1),)


PLAIN_FAQ = """Widget FAQ

 1. Basics
  1.1 What is a widget?
  1.2 Who makes widgets?
 2. Use ......................... 4

1. Basics

  1.1 What is a widget?

  A widget is a small part.

  1.2 Who makes widgets?

  Our team does.

Setup steps
-----------

1. Unpack it

2. Plug it in

2. Use

It just works.
"""


def test_txt_section_titles_are_headings_and_a_contents_list_is_not():
    e = read_bytes(PLAIN_FAQ.encode(), ".txt")
    titles = [(e.text[s:t], level) for s, t, level in e.layout.headings]
    # The contents list's entries sit on consecutive lines: none is a title. Nor is a list
    # whose items stand between blank lines ("1. Unpack it", "2. Plug it in").
    assert titles == [
        ("1. Basics", 1),
        ("1.1 What is a widget?", 2),
        ("1.2 Who makes widgets?", 2),
        ("Setup steps", 2),
        ("2. Use", 1),
    ]
    assert at(e, "Our team does").section == "1. Basics › 1.2 Who makes widgets?"
    assert at(e, "It just works").section == "2. Use"


def test_a_plain_texts_title_is_its_first_line_not_a_found_heading(tmp_path):
    (tmp_path / "faq.txt").write_text(PLAIN_FAQ, encoding="utf-8")
    docs, _ = load_corpus(tmp_path)
    assert docs[0].title == "Widget FAQ"


def test_txt_drawings_are_blocks_and_their_lines_stay_lines():
    src = (
        "The trailer of each member holds a checksum and the length of the input data.\n"
        "+-------------------------+-------------------------+\n"
        "|          CRC32          |          ISIZE          |\n"
        "+-------------------------+-------------------------+\n"
        "\n"
        "| name | size |\n"
        "| ISIZE | 4 |\n"
        "\n"
        "A line with one | bar, and 1 2 3 numbers, is prose.\n"
    )
    e = read_bytes(src.encode(), ".txt")
    box = (src.index("+---"), src.index("+\n\n") + 1)
    table = (src.index("| name"), src.index("| 4 |") + 5)
    assert e.layout.blocks == (box, table)
    assert "CRC32          |          ISIZE          |\n+---" in e.text  # not joined
    assert not e.layout.is_block(0, src.index("\n"))  # the prose above the box
    assert not e.layout.is_block(src.index("A line with"), len(src))


def test_crlf_and_bom_are_normalised():
    e = read_bytes(b"\xef\xbb\xbfFirst line here\r\n\r\nSecond paragraph.\r\n", ".txt")
    assert e.text == "First line here\n\nSecond paragraph.\n"
    assert at(e, "Second").line_start == 3


# ------------------------------------------------------------------ Markdown

MD = """---
title: Installing Widgets
url: https://docs.example.org/install.html
tags: [a, b]
---

# Installation

Widgets install with *pip*, see {ref}`the user guide <user-guide>` and
[the index](https://pypi.org) for `widget` releases. A **hard-wrapped**
paragraph is one sentence.

## Linux

On Linux, the package manager provides widgets.

```bash
pip install widget --user
```

| system | command |
|---|---|
| Debian | apt install widget |

- first item
- second item

```{note}
A note that wraps
over two lines.
```
"""


def test_markdown_front_matter_is_read_and_never_quoted():
    e = read_bytes(MD.encode(), ".md")
    assert e.title == "Installing Widgets"
    assert e.url == "https://docs.example.org/install.html"
    assert "title:" not in e.text and "---" not in e.text and "tags" not in e.text


def test_markdown_markup_reduced_to_visible_text():
    e = read_bytes(MD.encode(), ".md")
    assert (
        "Widgets install with pip, see the user guide and the index for widget releases. "
        "A hard-wrapped paragraph is one sentence." in e.text
    )
    for markup in ("{ref}", "`", "*", "](", "```", "- first", "|---"):
        assert markup not in e.text
    assert "A note that wraps over two lines." in e.text  # a MyST admonition is prose


def test_markdown_offsets_map_to_source_lines_and_sections():
    e = read_bytes(MD.encode(), ".md")
    for needle, src_needle in [
        ("Installation", "# Installation"),
        ("Widgets install", "Widgets install"),
        ("the index", "[the index]"),
        ("paragraph is one", "paragraph is one"),
        ("On Linux", "On Linux"),
        ("pip install widget", "pip install widget"),
        ("Debian", "| Debian"),
        ("second item", "second item"),
        ("over two lines", "over two lines"),
    ]:
        assert at(e, needle).line_start == source_line(MD, src_needle), needle
    assert at(e, "Widgets install").section == "Installation"
    assert at(e, "On Linux").section == "Installation › Linux"
    start = e.text.index("Widgets install")
    end = e.text.index("one sentence.") + len("one sentence.")
    loc = e.layout.locate(e.text, start, end)
    first, last = source_line(MD, "Widgets install"), source_line(MD, "paragraph is")
    assert (loc.line_start, loc.line_end) == (first, last)


def test_markdown_code_and_tables_are_flagged_headings_known():
    e = read_bytes(MD.encode(), ".md")
    code = e.text.index("pip install widget")
    table = e.text.index("Debian | apt install widget")
    prose = e.text.index("On Linux")
    assert e.layout.is_block(code, code + 5)
    assert e.layout.is_block(table, table + 5)
    assert not e.layout.is_block(prose, prose + 5)
    heading = e.text.index("Linux\n")
    assert e.layout.is_heading(heading, heading + 5)
    assert not e.layout.is_heading(prose, prose + 5)


def test_myst_blocks_and_html_blocks_are_markup():
    src = (
        "(install-label)=\n# Install\n\n% a comment\n\n:::{tip}\nColon fences hold prose.\n:::\n\n"
        "<div class='x'>\n<script>track()</script>\nShown text.\n</div>\n"
    )
    e = read_bytes(src.encode(), ".md")
    assert e.text == "Install\n\nColon fences hold prose.\n\nShown text."
    assert at(e, "Colon fences").line_start == 7


RAW_HTML = """\
# Routers

<table>
  <tr><th>URL Style</th><th>HTTP Method</th><th>Action</th></tr>
  <tr><td>{prefix}/</td><td>GET</td><td>list</td></tr>
  <tr><td>{prefix}/{lookup}/</td><td>DELETE</td><td>destroy</td></tr>
</table>

After the table.

<h2 id="extra">Extra actions</h2>

<p>Marked with <code>@action</code>.</p>
"""


def test_html_in_markdown_reads_as_an_html_page_does():
    """A raw HTML block in Markdown was one paragraph of its text, a table's cells run
    together; it reads as the HTML reader reads a page: a row a line, flagged as a table,
    headings as headings, lines kept."""
    e = read_bytes(RAW_HTML.encode(), ".md")
    assert "URL Style | HTTP Method | Action\n{prefix}/ | GET | list\n" in e.text
    row = e.text.index("{prefix}/{lookup}/")
    assert e.layout.is_block(row, row + 1)
    assert at(e, "{prefix}/{lookup}/").line_start == source_line(RAW_HTML, "{lookup}")
    assert at(e, "After the table.").line_start == source_line(RAW_HTML, "After the table.")
    assert at(e, "Marked with @action.").section == "Routers › Extra actions"
    assert at(e, "Marked with @action.").line_start == source_line(RAW_HTML, "Marked with")


def test_html_in_markdown_that_lxml_cannot_read_still_shows_its_text(monkeypatch):
    """Nothing is lost when lxml refuses a block: its text is shown, tags out, as before."""
    import lxml.etree

    from bot.ingest.readers import html

    def refuse(*args, **kwargs):
        raise lxml.etree.ParserError("refused")

    monkeypatch.setattr(html.lxml.html, "fragment_fromstring", refuse)
    e = read_bytes(b"# T\n\n<table><tr><td>kept cell</td></tr></table>\n\nAfter.\n", ".md")
    assert e.text == "T\n\nkept cell\n\nAfter."
    assert at(e, "kept cell").line_start == 3


def test_an_html_comment_in_markdown_is_not_text_even_when_it_holds_angle_brackets():
    # A licence header, as many projects put at the top of each page.
    src = (
        "<!--\nCopyright (C) A. Author, <a@example.org>, et al.\n\nSPDX: MIT\n-->\n\n"
        "# Title\n\nBody.\n"
    )
    e = read_bytes(src.encode(), ".md")
    assert e.text == "Title\n\nBody."


def test_a_markdown_heading_s_attribute_block_is_its_anchor_not_its_text():
    src = (
        "# Modules {#modules}\n\n## Publishing {#publish .tip}\n\nRun it.\n\n"
        "## Appendix {-}\n\nMore.\n\n## The {braces} stay\n\nLast `{#x}`.\n"
    )
    e = read_bytes(src.encode(), ".md")
    headings = "Modules\n\nPublishing\n\nRun it.\n\nAppendix\n\nMore.\n\n"
    assert e.text == headings + "The {braces} stay\n\nLast {#x}."
    assert e.layout.section_of(e.text, e.text.index("Run it")) == "Modules › Publishing"


def test_an_ascii_art_banner_is_not_a_title():
    banner = "   _   _ ____  _\n ___| | | |  _ \\| |\n \\___|\\___/|_| \\_\\_____|\n"
    banner += "\nFAQ\n\n1. Philosophy\n"
    assert corpus.derive_title(banner, "docs/FAQ.txt") == "FAQ"
    assert corpus.derive_title("-----\n\n2024 notes\n", "n.txt") == "2024 notes"
    assert corpus.derive_title("~~~\n", "docs/empty.txt") == "empty"


def test_toml_front_matter_and_roles():
    e = read_bytes(b'+++\ntitle = "T"\n+++\n\nText with {doc}`~pkg.module.Name`.\n', ".md")
    assert e.title == "T" and e.text == "Text with Name."
    assert role_text("text <target>") == "text"
    assert role_text("<only-target>") == "only-target"


# ------------------------------------------------------------------ HTML

HTML = """<!doctype html>
<html><head><title>Widget Guide</title>
<link rel="canonical" href="https://docs.example.org/guide/">
<style>p { color: red }</style><script>var tracking = 1;</script></head>
<body>
<nav><a href="/">Home</a> <a href="/next">Next page</a></nav>
<header>Site banner</header>
<main>
<h1>Installation<a class="headerlink" href="#installation">¶</a></h1>
<p>Widgets install with pip, and the
command works on every system
we know of.</p>
<h2>Linux</h2>
<ul><li>Use the <b>package manager</b>.</li><li>Or build it.</li></ul>
<pre>make
make install</pre>
</main>
<aside>Related pages</aside>
<footer>Copyright 2024</footer>
</body></html>
"""


def test_html_main_content_only_with_title_and_canonical():
    e = read_bytes(HTML.encode(), ".html")
    assert e.title == "Widget Guide"
    assert e.url == "https://docs.example.org/guide/"
    for chrome in ("Home", "Next page", "Site banner", "Related", "Copyright", "tracking", "¶"):
        assert chrome not in e.text, chrome
    assert "Widgets install with pip, and the command works on every system we know of." in (e.text)
    assert "Use the package manager." in e.text


def test_html_lines_sections_and_code():
    e = read_bytes(HTML.encode(), ".html")
    assert at(e, "Widgets install").line_start == source_line(HTML, "<p>Widgets")
    assert at(e, "we know of").line_start == source_line(HTML, "we know of")
    assert at(e, "package manager").section == "Installation › Linux"
    code = e.text.index("make install")
    assert e.layout.is_block(code, code + 4)
    assert at(e, "make install").line_start == source_line(HTML, "make install")


# The page a PyData or Sphinx Book theme builds (sphinx-build 9, pydata-sphinx-theme 0.16,
# sphinx-book-theme 1.1), cut down: its <main> holds the article's header buttons, a copy of
# the title for printing, the previous/next links and the "On this page" sidebar.
PYDATA = """<html><head><title>Invoking Flake8</title></head><body>
<main id="main-content" class="bd-main" role="main">
<div class="bd-content"><div class="bd-article-container">
<div class="bd-header-article d-print-none"><div class="header-article-items">
<div class="dropdown dropdown-download-buttons"><span class="btn__text-container">.rst</span>
</div></div></div>
<div id="jb-print-docs-body" class="onlyprint"><h1>Invoking Flake8</h1></div>
<article class="bd-article">
<section id="invoking-flake8"><h1>Invoking Flake8</h1>
<p>Once you have installed Flake8, you can begin using it.</p></section>
</article>
<footer class="prev-next-footer d-print-none"><div class="prev-next-area">
<p class="prev-next-subtitle">previous</p><p class="prev-next-title">Using Flake8</p>
</div></footer>
</div>
<div class="bd-sidebar-secondary bd-toc"><div class="sidebar-secondary-items">
<div class="page-toc tocsection onthispage">On this page</div>
<div class="tocsection sourcelink"><a href="_sources/x.rst">Show Source</a></div>
</div></div>
</div></main></body></html>
"""


def test_html_of_the_pydata_and_book_themes_is_the_article_alone():
    """Their chrome sits inside <main> under class names of their own: it was quoted (".rst",
    the title twice, "On this page", "Show Source", the previous page's title)."""
    e = read_bytes(PYDATA.encode(), ".html")
    assert e.text == "Invoking Flake8\n\nOnce you have installed Flake8, you can begin using it."


# Manuals from other generators, cut down: Texinfo (libffi's), Node.js's API pages, DocBook
# and gtk-doc (libxslt's), each with its navigation inside the content.
MANUALS = """<html><head><title>Missing Features</title></head><body>
<div class="header"><p>
Next: <a href="Index.html" rel="next">Index</a>, Previous: <a href="Memory.html" rel="prev">Memory
Usage</a>, Up: <a href="index.html" rel="up">libffi</a> &nbsp; [<a href="Index.html">Index</a>]</p>
</div>
<table class="navigation"><tr><td><a href="index.html">Home</a></td><td>libxslt Manual</td></tr>
</table>
<div class="navheader">Prev Up Next</div>
<h2 id="console">Console<span><a class="mark" href="#console">#</a></span></h2>
<p>libffi is missing a few features. See <a href="#variadic">variadic closures</a>.</p>
<pre>console.log(1);<button class="copy-button">copy</button></pre>
<p>Next: <a href="What.html" rel="next">What is libffi?</a> [<a href="Index.html">Index</a>]</p>
<div class="navfooter">Home | Index</div>
</body></html>
"""


def test_html_manuals_of_texinfo_node_and_docbook_read_without_their_navigation():
    """Texinfo's "Next: …, Previous: …, Up: …" line, DocBook's and gtk-doc's navigation bars,
    Node.js's "#" permalinks and the "copy" button inside its code blocks were read as text. A
    link to an anchor with words stays."""
    e = read_bytes(MANUALS.encode(), ".html")
    assert e.text == (
        "Console\n\nlibffi is missing a few features. See variadic closures.\n\nconsole.log(1);"
    )


def test_html_without_a_charset_is_read_as_utf8_and_legacy_pages_by_their_declaration():
    e = read_bytes("<p>Beyoncé sang.</p>".encode(), ".html")
    assert e.text == "Beyoncé sang."
    legacy = '<meta charset="windows-1252"><p>Caf\xe9 \x93quoted\x94</p>'.encode("latin-1")
    assert read_bytes(legacy, ".html").text == "Café “quoted”"


def test_html_without_title_uses_first_h1():
    e = read_bytes(b"<html><body><h1>First Heading</h1><p>Body text.</p></body></html>", ".htm")
    assert e.title == "First Heading"


# ------------------------------------------------------------------ PDF


def make_pdf(pages, *, title=None, hyphenated=False) -> bytes:
    """A PDF whose pages hold (heading, paragraph) pairs."""
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    for page in pages:
        pdf.add_page()
        for heading, paragraph in page:
            pdf.set_font("Helvetica", "B", 18)
            pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(0, 5, paragraph)
            pdf.ln(6)
    if hyphenated:
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 5, "A word split at the line end is extra-\nordinary in print.")
    return bytes(pdf.output())


LONG = (
    "The reader joins the lines of this paragraph into one, because a PDF stores each printed "
    "line on its own and a sentence often runs across two or three of them. "
)


def test_pdf_pages_joined_by_form_feeds_with_a_page_table():
    data = make_pdf(
        [
            [("Installation", LONG * 2 + "Page one ends here.")],
            [("Linux", "On Linux the package manager is best."), ("Windows", "Use the installer.")],
            [("Appendix", "The third page.")],
        ],
        title="The Widget Manual",
    )
    e = read_bytes(data, ".pdf")
    assert e.title == "The Widget Manual"
    assert e.text.count("\f") == 2
    assert at(e, "Page one ends").page == 1
    assert at(e, "package manager").page == 2
    assert at(e, "installer").page == 2
    assert at(e, "third page").page == 3
    assert at(e, "installer").section == "Windows"
    assert at(e, "installer").line_start is None  # no source lines in a PDF
    # The wrapped lines are one paragraph; no line break inside a sentence.
    assert "a sentence often runs across two or three of them." in e.text


def test_pdf_heading_wrapped_over_two_lines_is_one_heading():
    pdf = FPDF()
    pdf.add_page()
    for heading in (
        "Why is the default installation prefix different on each of the platforms we support?",
        "Short heading",
        "Another heading right after it",
    ):
        pdf.set_font("Helvetica", "B", 18)
        pdf.multi_cell(0, 7.7, heading, new_x="LMARGIN", new_y="NEXT")  # 1.21 x the size
        pdf.ln(3)
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 5, LONG)
        pdf.ln(6)
    pdf.set_font("Helvetica", "B", 18)  # two headings one after the other stay two
    pdf.multi_cell(0, 7.7, "Part two", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.multi_cell(0, 7.7, "Its first chapter", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 5, "The chapter's text.")
    e = read_bytes(bytes(pdf.output()), ".pdf")
    headings = [e.text[s:t] for s, t, _ in e.layout.headings]
    assert headings[0] == (
        "Why is the default installation prefix different on each of the platforms we support?"
    )
    assert headings[1:] == [
        "Short heading",
        "Another heading right after it",
        "Part two",
        "Its first chapter",
    ]
    assert at(e, "chapter's text").section == "Its first chapter"


def test_pdf_rejoins_words_hyphenated_at_line_ends():
    e = read_bytes(make_pdf([[("Head", "Some text.")]], hyphenated=True), ".pdf")
    assert "extraordinary in print." in e.text


def test_pdf_without_metadata_title_uses_its_first_heading():
    e = read_bytes(make_pdf([[("Big Heading", "Body text of the page.")]]), ".pdf")
    assert e.title == "Big Heading"
    start = e.text.index("Big Heading")
    assert e.layout.is_heading(start, start + 11)


def test_pdf_running_heads_and_page_numbers_are_dropped():
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    for n in range(1, 5):
        pdf.add_page()
        pdf.set_font("Helvetica", "", 8)
        pdf.cell(0, 5, "Widget Manual, draft", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 5, f"Body text of page {n} says something useful. " + LONG)
        pdf.set_y(-15)
        pdf.set_font("Helvetica", "", 8)
        pdf.cell(0, 5, f"Page {n}")
    e = read_bytes(bytes(pdf.output()), ".pdf")
    assert e.text.count("Widget Manual, draft") == 1  # kept on the first page only
    assert not any(f"Page {n}" in e.text for n in range(1, 5))  # the first page's foot too
    assert at(e, "page 3 says").page == 3


def printed_page_pdf() -> bytes:
    """Pages as a browser or WeasyPrint prints HTML: one-line paragraphs half a line apart, a
    list whose bullets are drawn after its items, code in a fixed-pitch font, a word split by
    the typographic hyphen (U+2010), and the running head and page number drawn last."""
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.add_font("serif", "", str(dejavu / "DejaVuSerif.ttf"))
    pdf.add_font("mono", "", str(dejavu / "DejaVuSansMono.ttf"))
    for n, option in enumerate(("--verbose", "--jobs", "--tee"), 1):
        pdf.add_page()
        pdf.set_font("serif", "", 11)
        y = 30.0
        for text in (option, "Go back to index", f"What {option} does, in a sentence."):
            pdf.text(20, y, text)
            y += 8  # 1.6 lines: a paragraph gap
        items = ["flake8 --quiet", "flake8 --count"]
        for k, item in enumerate(items):  # the items first, their bullets after them
            pdf.text(26, y + 5 * k, item)
        for k in range(len(items)):
            pdf.text(20, y + 5 * k, "\u2022")
        y += 18
        pdf.text(20, y, "An option's value is a comma-separated list of pat\u2010")
        pdf.text(20, y + 5, "terns, read once.")
        pdf.set_font("mono", "", 10)
        for k, code in enumerate(["[flake8]", "extend-ignore = E203", "max-line-length = 99"]):
            pdf.text(20, y + 16 + 5 * k, code)
        pdf.set_font("serif", "", 8)
        pdf.text(80, 12, "Widget Manual, Release 7.1")  # the margins' text, drawn last
        pdf.text(100, 287, str(n))
    return bytes(pdf.output())


def test_pdf_printed_from_html_keeps_its_paragraphs_items_and_code():
    """A reference of one-line paragraphs was one paragraph (the median step between lines was
    the paragraph gap); list items ran together with a line of bullets after them; code was
    prose; the running head and page number, drawn after the body, were kept."""
    e = read_bytes(printed_page_pdf(), ".pdf")
    assert "--verbose\n\nGo back to index\n\nWhat --verbose does, in a sentence." in e.text
    assert "flake8 --quiet\n\nflake8 --count" in e.text
    assert "\u2022" not in e.text
    assert "a comma-separated list of patterns, read once." in e.text
    code = "[flake8]\nextend-ignore = E203\nmax-line-length = 99"
    assert e.text.count(code) == 3
    start = e.text.index(code)
    assert (start, start + len(code)) in e.layout.blocks
    assert "Widget Manual" not in e.text
    assert at(e, "What --tee does").page == 3
    assert not any(line.strip() in ("1", "2", "3") for line in e.text.split("\n"))


def test_pdf_paragraph_running_on_to_the_next_page_stays_one_paragraph():
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "Heading", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    sentence = "Sentence {} of the paragraph runs on over the page end, as prose in a book does."
    pdf.multi_cell(0, 5, " ".join(sentence.format(n) for n in range(1, 91)))  # two pages
    data = bytes(pdf.output())
    second = pdfium.PdfDocument(data)[1].get_textpage().get_text_range()
    e = read_bytes(data, ".pdf")
    # No sentence is cut by the page end (a cut one would be two paragraphs: two quotes).
    assert all(sentence.format(n) in e.text for n in range(1, 91))
    assert "\f" not in e.text
    # The page table still says where page 2 begins, inside the paragraph.
    continued = " ".join(second.split()[:8])  # "... Sentence 67 of": once in the text
    assert at(e, continued).page == 2
    assert e.layout.page_of(e.text.index(continued) - 2) == 1
    assert at(e, "Sentence 90 of").page == 2


def test_pdf_paragraph_ended_at_the_page_end_is_not_joined_to_the_next_page():
    pdf = FPDF()
    for text in ("The first page ends with a full stop.", "The second page starts anew."):
        pdf.add_page()
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(0, 5, text)
    e = read_bytes(bytes(pdf.output()), ".pdf")
    assert e.text == "The first page ends with a full stop.\n\f\nThe second page starts anew."
    assert at(e, "second page").page == 2


# ------------------------------------------------------------------ DOCX and RST


def make_docx() -> bytes:
    d = docx.Document()
    d.core_properties.title = "Widget Handbook"
    d.add_heading("Installation", 1)
    d.add_paragraph("Install widgets with pip. It takes a minute.")
    d.add_heading("Linux", 2)
    d.add_paragraph("On Linux the package manager works too.")
    table = d.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "os", (0, 1): "tool", (1, 0): "Debian", (1, 1): "apt"}.items():
        table.cell(r, c).text = text
    d.add_heading("Windows", 1)
    d.add_paragraph("Use the installer.")
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_docx_heading_styles_give_sections_and_tables_are_flagged():
    e = read_bytes(make_docx(), ".docx")
    assert e.title == "Widget Handbook"
    assert at(e, "package manager").section == "Installation › Linux"
    assert at(e, "installer").section == "Windows"
    table = e.text.index("Debian | apt")
    assert e.layout.is_block(table, table + 6)
    assert at(e, "installer").page is None and at(e, "installer").line_start is None


def test_docx_code_is_flagged_by_its_style_or_a_monospace_font():
    """Code in Word (pandoc's "Source Code" style, Word's "HTML Preformatted", or every run in
    a monospace font) was prose, markable as an answer; consecutive code paragraphs are one
    block, kept verbatim. A heading or a sentence with a code word in it stays what it is."""
    d = docx.Document()
    d.add_heading("Configure", 1)
    d.add_paragraph("Set the authentication classes in your settings:")
    for line in ("REST_FRAMEWORK = {", "    'DEFAULT_AUTHENTICATION_CLASSES': [],", "}"):
        d.add_paragraph().add_run(line).font.name = "Courier New"
    mixed = d.add_paragraph("Then restart ")
    mixed.add_run("runserver").font.name = "Consolas"
    mixed.add_run(" once.")
    source_code = d.styles.add_style("Source Code", WD_STYLE_TYPE.PARAGRAPH)  # pandoc's
    d.add_paragraph("pip install djangorestframework", style=source_code)
    d.add_heading("", 2).add_run("runserver").font.name = "Consolas"
    d.add_paragraph("It serves on port 8000.")
    out = io.BytesIO()
    d.save(out)
    e = read_bytes(out.getvalue(), ".docx")
    code = "REST_FRAMEWORK = {\n    'DEFAULT_AUTHENTICATION_CLASSES': [],\n}"
    assert code in e.text
    start = e.text.index(code)
    assert (start, start + len(code)) in e.layout.blocks
    assert not e.layout.is_block(*_span(e, "Set the authentication classes"))
    assert not e.layout.is_block(*_span(e, "Then restart runserver once."))
    assert e.layout.is_block(*_span(e, "pip install djangorestframework"))
    assert at(e, "It serves on port 8000.").section == "Configure › runserver"


def _span(e, needle: str) -> tuple[int, int]:
    i = e.text.index(needle)
    return i, i + len(needle)


RST = """=============
Widget Manual
=============

Installation
============

Install widgets with :ref:`pip <install-pip>` or :func:`~widgets.api.install`.
This sentence is
wrapped.

.. toctree::

   other

Linux
-----

.. code-block:: bash

   apt install widget

.. note:: Notes are prose.
"""


def test_rst_sections_roles_lines_and_code():
    e = read_bytes(RST.encode(), ".rst")
    assert "Install widgets with pip or install. This sentence is wrapped." in e.text
    assert ":ref:" not in e.text and "toctree" not in e.text
    assert at(e, "Install widgets").section == "Widget Manual › Installation"
    assert at(e, "Notes are prose").section == "Widget Manual › Installation › Linux"
    assert at(e, "wrapped.").line_start == source_line(RST, "wrapped.")
    assert at(e, "Install widgets").line_start == source_line(RST, "Install widgets")
    assert at(e, "Linux").line_start == source_line(RST, "Linux")
    code = e.text.index("apt install")
    assert e.layout.is_block(code, code + 3)


def test_rst_substitution_nesting_one_defined_elsewhere_is_read():
    # Sphinx projects define |br| once in conf.py (rst_epilog); docutils raised KeyError on
    # a reference to it inside another definition, and the whole file was skipped.
    text = (
        "Platform\n========\n\n"
        "===========  =============\n"
        "Mode         |enable_mode|\n"
        "===========  =============\n\n"
        "Later |br| and |version| stay as written.\n\n"
        ".. |enable_mode| replace:: Enable Mode |br| (Privilege Escalation)\n"
        ".. |twice| replace:: |enable_mode| again\n\n"
        "Uses |twice|.\n"
    )
    e = read_bytes(text.encode(), ".rst")
    assert "Enable Mode |br| (Privilege Escalation)" in e.text
    assert "Uses Enable Mode |br| (Privilege Escalation) again." in e.text
    assert "Later |br| and |version| stay as written." in e.text
    assert at(e, "Later").line_start == source_line(text, "Later")


# ------------------------------------------------------------------ the corpus


def test_layout_survives_json_and_documents_round_trip():
    e = read_bytes(MD.encode(), ".md")
    doc = Document("d.md", "T", e.text, "x", url=e.url, layout=e.layout)
    back = Document.from_json(doc.to_json())
    assert back == doc
    assert Layout.from_json(e.layout.to_json()) == e.layout
    start = e.text.index("On Linux")
    assert back.locate(start, start + 8) == doc.locate(start, start + 8)


def test_every_format_loads_from_a_folder(tmp_path):
    seeds = tmp_path / "seeds"
    (seeds / "sub").mkdir(parents=True)
    (seeds / "a.md").write_text(MD, encoding="utf-8")
    (seeds / "b.html").write_text(HTML, encoding="utf-8")
    (seeds / "sub" / "c.pdf").write_bytes(make_pdf([[("Heading", "PDF body text.")]]))
    (seeds / "d.docx").write_bytes(make_docx())
    (seeds / "e.rst").write_text(RST, encoding="utf-8")
    (seeds / "f.txt").write_text("Plain title\n\nPlain body.", encoding="utf-8")
    docs, skipped = load_corpus(seeds)
    assert skipped == {}
    titles = {d.source: d.title for d in docs}
    assert titles == {
        "a.md": "Installing Widgets",
        "b.html": "Widget Guide",
        "d.docx": "Widget Handbook",
        "e.rst": "Widget Manual",
        "f.txt": "Plain title",
        "sub/c.pdf": "Heading",
    }
    urls = {d.source: d.url for d in docs}
    assert urls["a.md"] == "https://docs.example.org/install.html"
    assert urls["b.html"] == "https://docs.example.org/guide/"
    assert urls["f.txt"] is None


def test_unsupported_types_counted_in_one_warning(tmp_path, caplog):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "good.txt").write_text("Fine text.", encoding="utf-8")
    for name in ("a.png", "b.png", "c.xlsx", "LICENSE"):
        (seeds / name).write_bytes(b"\x89data")
    with caplog.at_level(logging.WARNING):
        docs, _ = load_corpus(seeds)
    assert [d.source for d in docs] == ["good.txt"]
    warnings = [r.getMessage() for r in caplog.records if "unsupported" in r.getMessage()]
    assert len(warnings) == 1
    assert "2 .png" in warnings[0] and "1 .xlsx" in warnings[0] and "(no extension)" in warnings[0]


def test_a_folder_of_only_unsupported_files_is_a_clear_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    with pytest.raises(CorpusError, match=r"no documents of a supported type.*1 \.png"):
        load_corpus(tmp_path)


def bad_files() -> dict[str, tuple[bytes, str]]:
    encrypted = FPDF()
    encrypted.add_page()
    encrypted.set_font("Helvetica", "", 12)
    encrypted.cell(0, 10, "Secret text")
    encrypted.set_encryption(owner_password="owner", user_password="user")
    scanned = FPDF()
    scanned.add_page()
    scanned.rect(10, 10, 50, 50)  # a drawing, no text: what a scan without OCR looks like
    return {
        "locked.pdf": (bytes(encrypted.output()), "encrypted PDF"),
        "scan.pdf": (bytes(scanned.output()), "no text layer: OCR is not supported"),
        "broken.pdf": (b"%PDF-1.7\n garbage that is no PDF", "corrupt or not a PDF"),
        "broken.docx": (b"PK\x03\x04 not a zip at all", "corrupt or not a Word document"),
        "image.md": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file, not text"),
        "latin1.txt": (b"caf\xe9 au lait", "not valid UTF-8"),
        "empty.rst": (b"  \n", "the file is empty"),
    }


@pytest.mark.parametrize("name", sorted(bad_files()))
def test_each_bad_file_raises_with_its_reason(name):
    data, reason = bad_files()[name]
    with pytest.raises(UnreadableError, match=reason.split(":")[0]):
        read_bytes(data, "." + name.rsplit(".", 1)[1])


def test_bad_files_are_named_with_reasons_and_the_rest_index(tmp_path, caplog):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for name, (data, _) in bad_files().items():
        (seeds / name).write_bytes(data)
    (seeds / "good.md").write_text("# Good\n\nThis one reads fine.", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        docs, skipped = load_corpus(seeds)
    assert [d.source for d in docs] == ["good.md"]
    assert set(skipped) == set(bad_files())
    messages = "\n".join(r.getMessage() for r in caplog.records)
    for name, (_, reason) in bad_files().items():
        assert f"Skipping {name}: {reason}" in messages, name


def test_a_folder_of_only_bad_files_is_a_clear_error(tmp_path):
    for name in ("scan.pdf", "latin1.txt"):
        (tmp_path / name).write_bytes(bad_files()[name][0])
    with pytest.raises(CorpusError, match=r"No readable document.*scan\.pdf: no text layer"):
        load_corpus(tmp_path)


def test_extraction_is_cached_by_content_hash(tmp_path, monkeypatch):
    seeds, cache = tmp_path / "seeds", tmp_path / "cache"
    seeds.mkdir()
    (seeds / "a.md").write_text(MD, encoding="utf-8")
    (seeds / "b.pdf").write_bytes(make_pdf([[("Heading", "PDF body text.")]]))
    (seeds / "bad.pdf").write_bytes(b"%PDF-1.7 garbage")
    first, skipped = load_corpus(seeds, cache_dir=cache)
    calls: list[str] = []
    real = corpus.read_bytes

    def counting(data: bytes, suffix: str):
        calls.append(suffix)
        return real(data, suffix)

    monkeypatch.setattr(corpus, "read_bytes", counting)
    again, skipped_again = load_corpus(seeds, cache_dir=cache)
    assert calls == []  # nothing parsed: every file, the bad one too, came from the cache
    assert again == first and skipped_again == skipped
    (seeds / "a.md").write_text(MD + "\nOne more line.\n", encoding="utf-8")
    changed, _ = load_corpus(seeds, cache_dir=cache)
    assert calls == [".md"]  # only the changed file was read again
    assert "One more line." in next(d.text for d in changed if d.source == "a.md")
