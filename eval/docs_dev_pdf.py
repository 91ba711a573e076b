"""The natural development sets with their gold documents as PDF: a copy of each project's
folder (mine_docs.py's exports) where every document a question names is rendered to a PDF
(its headings as larger bold lines, by level; its paragraphs as body text) and the original
removed, and the questions with their gold pointing at the PDFs. Development script, not part
of the package: no PDF is in any development corpus, and the PDF reader finds headings by
font size, not markup.

    .venv/bin/python eval/docs_dev_pdf.py --out cache/docs-dev-pdf \\
        eval/docs_dev_natural/questions.jsonl eval/docs_dev_natural/training_projects.jsonl
    .venv/bin/python eval/docs_dev.py --docs cache/docs-dev-pdf/docs \\
        --natural cache/docs-dev-pdf/questions.jsonl --try "" "chunking.embed_sections=false"
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from render_squad import PdfWriter, printable  # eval/ is the script's folder

from bot.evaluation.data import contains_answer
from bot.ingest.corpus import Document, read_document

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: 18.0, 2: 15.0, 3: 13.0}  # points by heading level; deeper ones 12.5
BODY = 10.5
_PARAGRAPH = re.compile(r"\n\s*\n")


def render(doc: Document, path: Path) -> None:
    """Write doc's text as a PDF: each paragraph a block, headings bold and larger."""
    pdf = PdfWriter(doc.title, page_numbers=False)
    levels = {s: level for s, e, level in doc.layout.headings if e > s}
    pos = 0
    for m in _PARAGRAPH.finditer(doc.text + "\n\n"):
        para, start, pos = doc.text[pos : m.start()], pos, m.end()
        text = printable(" ".join(para.split()))
        if not text:
            continue
        level = levels.get(start + len(para) - len(para.lstrip()))
        if level:
            pdf.block(text, SIZES.get(level, 12.5), "B", 2)
        else:
            pdf.block(text, BODY, "", 3)
    pdf.output(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("questions", type=Path, nargs="+", help="natural question sets")
    ap.add_argument("--docs", type=Path, default=ROOT / "cache" / "training" / "docs")
    ap.add_argument("--out", type=Path, default=ROOT / "cache" / "docs-dev-pdf")
    args = ap.parse_args()
    rows = [json.loads(line) for q in args.questions for line in q.read_text().splitlines()]
    folders = args.out / "docs"
    for project in sorted({r["project"] for r in rows}):
        folder = folders / project
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(args.docs / project, folder)
        for gold in sorted({g for r in rows if r["project"] == project for g in r["gold"]}):
            render(read_document(folder / gold, folder), (folder / gold).with_suffix(".pdf"))
            (folder / gold).unlink()
    out = []
    texts: dict[Path, str] = {}  # each PDF read once, as the bot reads it
    for r in rows:
        gold = [str(Path(g).with_suffix(".pdf")) for g in r["gold"]]
        out.append({**r, "gold": gold, "format": "pdf" if gold else r["format"]})
        if gold:  # every answer must still be in the PDF's text
            folder = folders / r["project"]
            if folder / gold[0] not in texts:
                texts[folder / gold[0]] = read_document(folder / gold[0], folder).text
            if not contains_answer(texts[folder / gold[0]], r["answers"]):
                raise SystemExit(f"{gold[0]}: no answer of {r['question']!r} in the PDF's text")
    (args.out / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in out))
    print(f"{len(out)} questions, {sum(bool(r['gold']) for r in out)} with a PDF gold")


if __name__ == "__main__":
    main()
