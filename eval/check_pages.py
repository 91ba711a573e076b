"""Check the page cited for every quoted PDF passage against where the generator put it.

Development script. Reads ``eval --details`` output of a run over PDFs rendered by
``render_squad.py`` and its ``pdf-pages.json`` (every line written, with its page). A quote is
located by its characters without whitespace and hyphens (line breaks, spacing and
de-hyphenation are the reader's to choose); the expected page is the one its first character
was written on. For PDFs made elsewhere, ``--pdfs FOLDER`` takes each page's text from the
PDF's own text layer instead (pypdfium2, page by page: independent of the reader's offsets).

    .venv/bin/python eval/check_pages.py cache/squad-formats/details-pdf.jsonl \
        cache/squad-formats/pdf-pages.json
    .venv/bin/python eval/check_pages.py cache/real-docs-details.jsonl --pdfs cache/real-docs

A quote found more than once in a file ("[citation needed]") is told apart by its offset: with
``--docs FOLDER`` (the folder eval read) the file is read again to count the quote's earlier
occurrences, and the same occurrence is looked up in the written pages; without it the first.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

# Whitespace, hyphens, soft-hyphen marks, zero-width spaces and joiners (a text layer may keep
# one of two in a row).
_IGNORED = re.compile(r"[\s\-\u00ad\ufffe\u200b-\u200d\u2060\ufeff]+")


def squeeze(text: str) -> str:
    """Text without what readers may legitimately add or drop."""
    return _IGNORED.sub("", text)


def page_index(lines: list[list[object]]) -> tuple[str, list[int]]:
    """The file's written text without whitespace, and the page of each of its characters."""
    chars: list[str] = []
    pages: list[int] = []
    for page, line in lines:
        squeezed = squeeze(str(line))
        chars.append(squeezed)
        pages.extend([int(str(page))] * len(squeezed))
    return "".join(chars), pages


def occurrence(result: dict[str, object], docs: Path | None, texts: dict[str, str]) -> int:
    """How many times the quote occurs in its document before the quoted place (0 if unknown)."""
    start = result.get("quote_start")
    if docs is None or not isinstance(start, int):
        return 0
    from bot.ingest.readers import read_bytes

    source = str(result["source"])
    if source not in texts:
        path = docs / source
        texts[source] = read_bytes(path.read_bytes(), path.suffix.lower()).text
    return texts[source].count(str(result["quote"]), 0, start)


def nth(text: str, needle: str, n: int) -> int:
    """Where the n-th (from 0) occurrence of needle in text starts, or -1."""
    at = text.find(needle)
    for _ in range(n):
        if at < 0:
            break
        at = text.find(needle, at + 1)
    return at


def layer_pages(path: Path) -> list[list[object]]:
    """(page, text) of every page of a PDF, as its text layer gives it."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    return [[n + 1, pdf[n].get_textpage().get_text_range()] for n in range(len(pdf))]


def main() -> None:
    """Print how many quoted PDF passages cite the right page; list the others."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("details", type=Path)
    ap.add_argument("layout", type=Path, nargs="?", help="pdf-pages.json of render_squad.py")
    ap.add_argument("--pdfs", type=Path, help="a folder of PDFs: pages from their text layer")
    ap.add_argument("--docs", type=Path, help="the folder eval read: tells repeated quotes apart")
    ap.add_argument("--show", type=int, default=5, help="how many failures of each kind to show")
    args = ap.parse_args()
    if args.pdfs is not None:
        pages = {p.name: layer_pages(p) for p in sorted(args.pdfs.rglob("*.pdf"))}
    elif args.layout is not None:
        pages = json.loads(args.layout.read_text(encoding="utf-8"))
    else:
        ap.error("give pdf-pages.json or --pdfs FOLDER")
    written = {name: page_index(lines) for name, lines in pages.items()}
    texts: dict[str, str] = {}
    quoted = correct = 0
    wrong: list[str] = []
    unlocated: list[str] = []
    for line in args.details.read_text(encoding="utf-8").splitlines():
        for result in json.loads(line).get("results") or []:
            name = Path(result["source"]).name
            if name not in written:
                continue
            quoted += 1
            text, pages = written[name]
            at = nth(text, squeeze(result["quote"]), occurrence(result, args.docs, texts))
            if at < 0:
                unlocated.append(f"{name}: {result['quote'][:120]!r}")
                continue
            if result.get("page") == pages[at]:
                correct += 1
            else:
                wrong.append(f"{name}: cited {result.get('page')}, written on {pages[at]}")
    located = quoted - len(unlocated)
    print(f"quoted PDF passages: {quoted}")
    print(f"located in the generator's pages: {located}")
    if located:
        print(f"page correct: {correct} of {located} ({correct / located:.2%})")
    for label, items in (("wrong page", wrong), ("not located", unlocated)):
        if items:
            print(f"{label}: {len(items)}")
            for item in items[: args.show]:
                print("  " + item)


if __name__ == "__main__":
    main()
