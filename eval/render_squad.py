"""Render a passages benchmark as documents in several formats, to measure the readers.

Development script, not part of the package. Passages sharing a title form one article; each
article becomes one file per format:

- ``txt``: the title line, then headings and paragraphs between blank lines (the reference);
- ``md``: YAML front matter (title, url), the title as ``#``, a ``##`` heading per group of
  paragraphs, paragraphs hard-wrapped at 72 columns;
- ``html``: a page with head, header, navigation (links to the other articles), footer and a
  script around an ``<article>`` (h1, h2 per group, ``<p>`` wrapped in the source);
- ``pdf``: A4 pages (fpdf2, DejaVu Sans), a heading per group, page numbers in the footer;
- ``docx``: Title / Heading 2 styles, a running header.

Beside the folders it writes ``questions-FORMAT.jsonl`` (gold = the article's file, relative to
that format's folder; ``split`` = the article's part of the fixed tuning/report split) and
``pdf-pages.json`` (every line it wrote to each PDF, with its page) for ``check_pages.py``.

    .venv/bin/python eval/render_squad.py --out cache/squad-formats
"""

from __future__ import annotations

import argparse
import html
import json
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from bot.evaluation.data import split_of  # the package's fixed split

FORMATS = ("txt", "md", "html", "pdf", "docx")
GROUP = 5  # paragraphs per heading
WIDTH = 72  # Markdown hard-wrap column
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# A word that would open a Markdown block (list, heading, quote, setext underline, fence,
# ordered list) if a hard wrap put it first on a line; the wrapper never does.
_BLOCK_START = re.compile(r"^([-+*>#=|]|\d+[.)]|`{3,}|~{3,})")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_ENTITY = re.compile(r"&(?=#?\w+;)")


def articles(passages: Path) -> dict[str, list[dict[str, Any]]]:
    """Passages grouped by title, in file order."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with passages.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out[str(row["title"]).replace("_", " ")].append(row)
    return out


def slug(title: str) -> str:
    """A file name stem for a title."""
    return re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_")


def url_of(title: str) -> str:
    """Where the article lives on the web (SQuAD passages are Wikipedia paragraphs)."""
    return "https://en.wikipedia.org/wiki/" + title.replace(" ", "_")


def groups(paras: list[str]) -> list[tuple[str, list[str]]]:
    """Paragraphs in groups of GROUP, each under a neutral heading."""
    return [(f"Part {i // GROUP + 1}", paras[i : i + GROUP]) for i in range(0, len(paras), GROUP)]


def md_escape(text: str) -> str:
    """Text with Markdown's inline punctuation escaped, so it renders as itself."""
    return _ENTITY.sub(r"\\&", _MD_SPECIAL.sub(r"\\\1", text))


def hard_wrap(text: str, width: int) -> list[str]:
    """Greedy wrap at spaces; a word that would open a Markdown block never starts a line."""
    lines: list[list[str]] = []
    used = 0
    for word in (w for w in text.split(" ") if w):
        if lines and (used + 1 + len(word) <= width or _BLOCK_START.match(word)):
            lines[-1].append(word)
            used += 1 + len(word)
        else:
            lines.append([word])
            used = len(word)
    return [" ".join(words) for words in lines]


def render_txt(title: str, paras: list[str]) -> str:
    """The reference: title line, the same headings as the other formats on lines of their
    own, paragraphs between blank lines."""
    blocks = [title]
    for heading, chunk in groups(paras):
        blocks += [heading, *chunk]
    return "\n\n".join(blocks) + "\n"


def render_md(title: str, paras: list[str]) -> str:
    """Front matter, headings, hard-wrapped escaped paragraphs."""
    out = ["---", f"title: {json.dumps(title)}", f"url: {url_of(title)}", "---", ""]
    out += [f"# {md_escape(title)}", ""]
    for heading, chunk in groups(paras):
        out += [f"## {heading}", ""]
        for para in chunk:
            out += [*hard_wrap(md_escape(para), WIDTH), ""]
    return "\n".join(out)


def render_html(title: str, paras: list[str], others: list[str]) -> str:
    """A page with site chrome around the article."""
    e = html.escape
    nav = "\n".join(
        f'      <li><a href="{slug(t)}.html">{e(t)}</a></li>' for t in others if t != title
    )
    body = []
    for heading, chunk in groups(paras):
        body.append(f"    <h2>{e(heading)}</h2>")
        for para in chunk:
            wrapped = "\n      ".join(hard_wrap(e(para, quote=False), 100))
            body.append(f"    <p>\n      {wrapped}\n    </p>")
    article = "\n".join(body)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{e(title)} - Wikipedia</title>
  <link rel="canonical" href="{e(url_of(title))}">
  <style>body {{ font-family: sans-serif; }} nav li {{ display: inline; }}</style>
  <script>window.dataLayer = window.dataLayer || []; function track() {{ return 1; }}</script>
</head>
<body>
  <header>
    <a class="logo" href="index.html">The Free Encyclopedia</a>
    <form role="search"><input name="q" placeholder="Search the encyclopedia"></form>
  </header>
  <nav aria-label="Articles">
    <ul>
{nav}
    </ul>
  </nav>
  <main>
  <article>
    <h1>{e(title)}</h1>
{article}
  </article>
  </main>
  <footer>
    <p>Text is available under the Creative Commons Attribution-ShareAlike License 4.0.</p>
    <p><a href="privacy.html">Privacy policy</a> · <a href="about.html">About</a></p>
  </footer>
  <script>track();</script>
</body>
</html>
"""


@cache
def drawable() -> frozenset[int]:
    """The code points DejaVu Sans has glyphs for (both weights share them)."""
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(str(FONT_DIR / "DejaVuSans.ttf")).getBestCmap())


def printable(text: str) -> str:
    """text without the characters the font cannot draw (a PDF would leave them out of its
    text layer; pdf-pages.json must hold what the page holds)."""
    chars = drawable()
    return "".join(c for c in text if ord(c) in chars or c.isspace())


class PdfWriter:
    """An A4 PDF in DejaVu Sans (regular and bold) written block by block; with
    page_numbers, each page's number in its footer. `placed` holds every line written with
    its 1-based page."""

    def __init__(self, title: str, *, page_numbers: bool = True) -> None:
        from fpdf import FPDF

        class Paged(FPDF):
            def footer(self) -> None:
                if page_numbers:
                    self.set_y(-15)
                    self.set_font("DejaVu", size=9)
                    self.cell(0, 10, str(self.page_no()), align="C")

        self.pdf = Paged(format="A4")
        self.pdf.set_title(title)
        self.pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.pdf.set_auto_page_break(True, margin=20)
        self.pdf.add_page()
        self.placed: list[tuple[int, str]] = []

    def block(self, text: str, size: float, style: str, gap: float) -> None:
        """text as one paragraph in the font size and style ("" or "B"), then gap mm."""
        from fpdf.enums import MethodReturnValue, XPos, YPos

        pdf = self.pdf
        pdf.set_font("DejaVu", style, size)
        height = size * 0.5
        text = printable(text)
        lines = pdf.multi_cell(0, height, text, dry_run=True, output=MethodReturnValue.LINES)
        for line in lines:
            if pdf.will_page_break(height):
                pdf.add_page()
            pdf.cell(0, height, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.placed.append((pdf.page_no(), line))
        pdf.ln(gap)

    def output(self, path: Path) -> None:
        self.pdf.output(str(path))


def render_pdf(title: str, paras: list[str], path: Path) -> list[tuple[int, str]]:
    """Write a multi-page PDF; return every line written with its 1-based page."""
    pdf = PdfWriter(title)
    pdf.block(title, 18, "B", 4)
    for heading, chunk in groups(paras):
        pdf.block(heading, 13, "B", 2)
        for para in chunk:
            pdf.block(para, 11, "", 3)
    pdf.output(path)
    return pdf.placed


def render_docx(title: str, paras: list[str], path: Path) -> None:
    """Write a DOCX with heading styles and a running header."""
    import docx

    doc = docx.Document()
    doc.core_properties.title = title
    doc.sections[0].header.paragraphs[0].text = "The Free Encyclopedia"
    doc.add_heading(title, level=0)
    for heading, chunk in groups(paras):
        doc.add_heading(heading, level=2)
        for para in chunk:
            doc.add_paragraph(para)
    doc.save(str(path))


def main() -> None:
    """Render every article in every asked format, with the questions for each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--passages", type=Path, default=Path("../shared/data/squad-dev/passages.jsonl")
    )
    ap.add_argument(
        "--questions", type=Path, default=Path("../shared/data/squad-dev/questions.jsonl")
    )
    ap.add_argument("--out", type=Path, default=Path("cache/squad-formats"))
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset")
    args = ap.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    if bad := set(formats) - set(FORMATS):
        ap.error(f"unknown formats: {', '.join(sorted(bad))}")

    arts = articles(args.passages)
    titles = list(arts)
    file_of_passage = {str(row["id"]): slug(title) for title, rows in arts.items() for row in rows}
    pdf_pages: dict[str, list[tuple[int, str]]] = {}
    for fmt in formats:
        folder = args.out / fmt
        folder.mkdir(parents=True, exist_ok=True)
        for title, rows in arts.items():
            paras = [str(r["text"]) for r in rows]
            path = folder / f"{slug(title)}.{fmt}"
            if fmt == "txt":
                path.write_text(render_txt(title, paras), encoding="utf-8")
            elif fmt == "md":
                path.write_text(render_md(title, paras), encoding="utf-8")
            elif fmt == "html":
                path.write_text(render_html(title, paras, titles), encoding="utf-8")
            elif fmt == "pdf":
                pdf_pages[path.name] = render_pdf(title, paras, path)
            else:
                render_docx(title, paras, path)
        with (args.out / f"questions-{fmt}.jsonl").open("w", encoding="utf-8") as out:
            for line in args.questions.open(encoding="utf-8"):
                if not line.strip():
                    continue
                q = json.loads(line)
                gold = sorted({f"{file_of_passage[g]}.{fmt}" for g in q.get("gold") or []})
                title = next(t for t in titles if slug(t) == gold[0].rsplit(".", 1)[0])
                q.update(gold=gold, split=split_of(title), gold_passages=q.get("gold"))
                out.write(json.dumps(q, ensure_ascii=False) + "\n")
        print(f"{fmt}: {len(arts)} documents in {folder}")
    if pdf_pages:
        (args.out / "pdf-pages.json").write_text(
            json.dumps(pdf_pages, ensure_ascii=False), encoding="utf-8"
        )


if __name__ == "__main__":
    main()
