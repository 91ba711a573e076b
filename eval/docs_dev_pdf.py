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

from render_squad import FONT_DIR, printable  # eval/ is the script's folder

from bot.evaluation.data import contains_answer
from bot.ingest.corpus import Document, read_document

ROOT = Path(__file__).resolve().parent.parent
SIZES = {1: 18.0, 2: 15.0, 3: 13.0}  # points by heading level; deeper ones 12.5
BODY = 10.5
_PARAGRAPH = re.compile(r"\n\s*\n")


def render(doc: Document, path: Path) -> None:
    """Write doc's text as a PDF: each paragraph a block, headings bold and larger."""
    from fpdf import FPDF
    from fpdf.enums import MethodReturnValue, XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_title(doc.title)
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()

    def block(text: str, size: float, style: str, gap: float) -> None:
        pdf.set_font("DejaVu", style, size)
        height = size * 0.5
        lines = pdf.multi_cell(0, height, text, dry_run=True, output=MethodReturnValue.LINES)
        for line in lines:
            if pdf.will_page_break(height):
                pdf.add_page()
            pdf.cell(0, height, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    levels = {s: level for s, e, level in doc.layout.headings if e > s}
    pos = 0
    for m in _PARAGRAPH.finditer(doc.text + "\n\n"):
        para, start, pos = doc.text[pos : m.start()], pos, m.end()
        text = printable(" ".join(para.split()))
        if not text:
            continue
        level = levels.get(start + len(para) - len(para.lstrip()))
        if level:
            block(text, SIZES.get(level, 12.5), "B", 2)
        else:
            block(text, BODY, "", 3)
    pdf.output(str(path))


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
    for r in rows:
        gold = [str(Path(g).with_suffix(".pdf")) for g in r["gold"]]
        out.append({**r, "gold": gold, "format": "pdf" if gold else r["format"]})
        if gold:  # every answer must still be in the PDF's text as the bot reads it
            folder = folders / r["project"]
            text = read_document(folder / gold[0], folder).text
            if not contains_answer(text, r["answers"]):
                raise SystemExit(f"{gold[0]}: no answer of {r['question']!r} in the PDF's text")
    (args.out / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in out))
    print(f"{len(out)} questions, {sum(bool(r['gold']) for r in out)} with a PDF gold")


if __name__ == "__main__":
    main()
