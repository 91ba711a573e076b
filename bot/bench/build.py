"""How fast documents become an index: a full build and a one-file update of SQuAD-dev as
files, and text extraction from PDF and HTML."""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from bot.bench.data import passage_rows, write_passage_files
from bot.bench.stats import summary, timed
from bot.config import Settings


def passage_texts(index_dir: Path) -> list[str]:
    """What the model embeds for each passage of an index: the lead line (the title, and the
    headings above it: chunking.passage_lead, here never cut to fit the window) and the
    passage."""
    from bot.ingest.chunking import passage_lead
    from bot.search.store import Index

    index = Index.load(index_dir)
    sections = index.params.embed_sections
    texts = []
    for i in range(len(index)):
        doc, start = index.passage_document(i), int(index.passages[i].start)
        lead = passage_lead(doc, start, sections=sections)
        body = index.passage_text(i)
        texts.append(f"{lead}\n{body}" if index.params.embed_titles else body)
    return texts


def index_build(settings: Settings, data: Path, docs: int | None, repeats: int) -> dict[str, Any]:
    """Full build of `docs` SQuAD-dev passages of data (None: all 1,545) as files, then
    re-index after one file changes.

    Each full build is followed by a bare SentenceTransformer.encode of the same passage
    texts: the ratio of the two rates is the build's speed over the model's own.
    """
    from bot.app import make_embedder, rebuild

    rows = passage_rows(data, docs)
    full, pps, again, reembedded = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_passage_files(rows, root / "seeds")
        s = dataclasses.replace(settings, seeds_dir=root / "seeds", index_dir=root / "index")
        embedder = make_embedder(s)
        embedder.embed(["warm up"])  # model load is start-up, not throughput
        bare: list[float] = []
        texts: list[str] = []
        for _ in range(repeats):
            secs = timed(lambda: full.append(rebuild(s, embedder, full=True, progress=False)[1]))
            pps.append(full[-1].embedded_passages / secs)
            texts = texts or passage_texts(s.index_dir)
            model = getattr(embedder, "model", None)
            if model is not None:  # the model alone, same passages, same batch size
                batch = getattr(embedder, "batch_size", 32)
                bare.append(len(texts) / timed(partial(model.encode, texts, batch_size=batch)))
        for i in range(repeats):
            path = root / "seeds" / f"{rows[i * 37 % len(rows)]['id']}.txt"
            path.write_text(
                path.read_text(encoding="utf-8") + "\nOne more sentence was added here.",
                encoding="utf-8",
            )
            again.append(timed(lambda: reembedded.append(rebuild(s, embedder, progress=False)[1])))
    last = full[-1]
    return {
        "documents": len(rows),
        "passages": last.embedded_passages,
        "sentences": last.embedded_sentences,
        "passages_per_s": summary(pps),
        "bare_encode_passages_per_s": summary(bare),
        # Median over median; and each build against the bare encode right after it.
        "build_over_bare_encode": statistics.median(pps) / statistics.median(bare)
        if bare
        else None,
        "build_over_bare_encode_each": [a / b for a, b in zip(pps, bare, strict=False)],
        "device": str(getattr(getattr(embedder, "model", None), "device", "n/a")),
        "reindex_one_changed_s": summary(again),
        "reindex_embedded_documents": [len(r.embedded_documents) for r in reembedded],
    }


def _extraction_corpus(data: Path, folder: Path, docs: int, pages_per_doc: int) -> dict[str, int]:
    """Write docs PDFs and docs HTML files of SQuAD-dev text, pages_per_doc pages each (a PDF
    page and an HTML page each hold three passages); needs fpdf2 (the dev extras)."""
    from fpdf import FPDF

    texts = [str(r["text"]) for r in passage_rows(data, docs * pages_per_doc * 3)]
    per_page = [texts[i : i + 3] for i in range(0, len(texts), 3)]
    nav = "<nav><a href='/'>Home</a> <a href='/a'>Articles</a> <a href='/b'>About</a></nav>"
    for d in range(docs):
        pdf = FPDF()
        pdf.set_font("Helvetica", "", 10)
        for page in per_page[d * pages_per_doc : (d + 1) * pages_per_doc]:
            pdf.add_page()
            for para in page:
                # The core fonts are Latin-1; other characters would stop fpdf2.
                pdf.multi_cell(0, 5, para.encode("latin-1", "replace").decode("latin-1"))
                pdf.ln(3)
        pdf.output(str(folder / f"doc{d}.pdf"))
        for k, page in enumerate(per_page[d * pages_per_doc : (d + 1) * pages_per_doc]):
            body = "".join(f"<p>{para}</p>" for para in page)
            html = (
                f"<html><head><title>Page {d}-{k}</title></head><body>{nav}"
                f"<header>Site</header><main><h1>Page {k}</h1>{body}</main>"
                f"<footer>Footer</footer></body></html>"
            )
            (folder / f"page{d}-{k}.html").write_text(html, encoding="utf-8")
    return {"pdf_pages": docs * pages_per_doc, "html_pages": docs * pages_per_doc}


def extraction(
    data: Path, docs: int = 10, pages_per_doc: int = 20, repeats: int = 3
) -> dict[str, Any]:
    """Extraction throughput: PDF pages/s and HTML pages/s through the readers, and how fast
    an unchanged corpus is re-read from the extraction cache (files/s)."""
    from bot.ingest.corpus import load_corpus

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pdfs, htmls, cache = root / "pdf", root / "html", root / "cache"
        for folder in (pdfs, htmls):
            folder.mkdir()
        counts = _extraction_corpus(data, root, docs, pages_per_doc)
        for f in root.glob("*.pdf"):
            f.rename(pdfs / f.name)
        for f in root.glob("*.html"):
            f.rename(htmls / f.name)
        pdf_s = [timed(lambda: load_corpus(pdfs)) for _ in range(repeats)]
        html_s = [timed(lambda: load_corpus(htmls)) for _ in range(repeats)]
        load_corpus(pdfs, cache_dir=cache)
        load_corpus(htmls, cache_dir=cache)
        files = docs + counts["html_pages"]
        cached_s = [
            timed(lambda: (load_corpus(pdfs, cache_dir=cache), load_corpus(htmls, cache_dir=cache)))
            for _ in range(repeats)
        ]
    return {
        **counts,
        "pdf_pages_per_s": summary([counts["pdf_pages"] / t for t in pdf_s]),
        "html_pages_per_s": summary([counts["html_pages"] / t for t in html_s]),
        "cached_files_per_s": summary([files / t for t in cached_s]),
    }
