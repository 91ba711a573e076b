"""A documentation development set that no reported set shares anything with: the questions
training/mine_docs.py mined from the held-out projects of the verifier's training data (its
heldout split: question-like headings and FAQ entries, never trained on), asked of each
project's own documentation as the bot reads it. Development script, not part of the package.

A question is answered right when the marked sentence (quote@1) or the quoted passage
(passage@1) overlaps the section the question heads; answer@pool says how often one of the
first verifier_pool distinct passages does. "withheld" asks each question again with the
passages overlapping its section taken out of retrieval (eval/decline_check.py's squad
withheld, for documentation) and reports the share declined.

The questions are the documents' own headings, so they repeat their section's words more
than people's questions do: read the figures as relative, settings against settings.

    .venv/bin/python training/mine_docs.py   # makes cache/training/docs_pairs.jsonl and docs/
    .venv/bin/python eval/docs_dev.py --try "" "heading_weight=0"
    .venv/bin/python eval/docs_dev.py --natural --try ""   # eval/docs_dev_natural's questions
    .venv/bin/python eval/docs_dev.py --natural eval/docs_dev_natural/training_projects.jsonl \
        --try "" "chunking.embed_sections=false"   # four training-split projects
    .venv/bin/python eval/docs_dev.py --natural training/natural_questions.jsonl --try ""
        # 384 questions on 23 other training-split projects (natural_pairs.py's; the shipped
        # verifier never trained on them)
    .venv/bin/python eval/docs_dev.py --docs cache/dev13/docs \
        --natural eval/docs_dev_natural/dev13.jsonl --try ""
        # 405 questions on 16 projects no training script reads (eval/docs_dev_natural/README.md)

With --natural it asks a set of questions written by reading those projects' documents
(eval/docs_dev_natural/README.md) through `eval`'s own code instead, one project at a time,
and prints file@1, passage@1 (answer in the top passage), quote@1 and the decline shares;
--details FILE appends each question's `eval --details` row, with its setting, to FILE.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from decline_check import with_answer  # eval/ is the script's folder

from bot.answer.compose import Answer, Answerer
from bot.answer.verify import load_verifier
from bot.answer.wording import clean_question
from bot.app import make_embedder
from bot.config import Settings
from bot.evaluation.data import contains_answer, read_jsonl
from bot.evaluation.memo import cached_index, memo_embedder
from bot.evaluation.run import evaluate_files, question_encoding
from bot.evaluation.withheld import passages_withheld
from bot.ingest.corpus import load_corpus
from bot.search.calibration import load_calibrated
from bot.search.store import Index

ROOT = Path(__file__).resolve().parent.parent
TRAINING = ROOT / "cache" / "training"


def heldout_questions(pairs: Path) -> dict[str, list[dict[str, Any]]]:
    """The held-out positive pairs (question, source file, section span) by project."""
    if not pairs.exists():
        raise SystemExit(f"{pairs} is missing: run training/mine_docs.py")
    out: dict[str, list[dict[str, Any]]] = {}
    for r in read_jsonl(pairs):
        if r.get("split") == "heldout" and r.get("kind") == "positive":
            out.setdefault(str(r["project"]), []).append(r)
    return out


def overlapping(index: Index, doc: int, span: Sequence[int]) -> list[int]:
    """The passage rows of document doc that overlap the character range span."""
    spans = index.passages.spans
    mask = (index.passages.doc == doc) & (spans[:, 0] < span[1]) & (spans[:, 1] > span[0])
    return np.flatnonzero(mask).tolist()


def anchored(row: dict[str, Any], text: str) -> dict[str, Any]:
    """The row with its span found again in the document's text as read now: a reader that
    changed since the pairs were mined (one dropping a comment) moves every offset after it."""
    at = text.find(row["passage"])
    return row if at < 0 else {**row, "span": [at, at + len(row["passage"])]}


def judged(answer: Answer, row: dict[str, Any]) -> dict[str, bool]:
    """Whether the answer's top quote and passage overlap the question's section."""
    if not answer.results:
        return {"quote": False, "passage": False}
    top = answer.results[0]
    a, b = row["span"]
    same = top.source == row["source"]
    return {
        "quote": same and top.quote_start < b and top.quote_end > a,
        "passage": same and top.start < b and top.end > a,
    }


def project_figures(settings: Settings, folder: Path, rows: list[dict[str, Any]]) -> dict:
    """quote@1, passage@1, answer@pool and withheld declines of one project's questions."""
    documents, _ = load_corpus(folder, cache_dir=settings.cache_dir)
    embedder = memo_embedder(make_embedder(settings), settings.cache_dir)
    index = cached_index(documents, embedder, settings, progress=False)
    verifier = load_verifier() if settings.answer.verifier else None
    answerer = Answerer(index, embedder, settings.retrieval, settings.answer, verifier=verifier)
    doc_of = {d.source: i for i, d in enumerate(index.documents)}
    rows = [
        anchored(r, index.documents[doc_of[r["source"]]].text)
        for r in rows
        if r["source"] in doc_of
    ]
    texts = [clean_question(str(r["question"]), settings.answer.max_question_chars) for r in rows]
    vecs, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    pool = max(settings.answer.verifier_pool, 1)
    out: dict[str, list[bool]] = {"quote": [], "passage": [], "pool": [], "answered": []}
    for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
        qt = tokens[i] if tokens is not None else None
        answer = answerer.ask(text, query_vector=vecs[i], query_tokens=qt)
        for key, value in judged(answer, row).items():
            out[key].append(value)
        out["answered"].append(answer.answered)
        section = set(overlapping(index, doc_of[row["source"]], row["span"]))
        hits = answerer.retriever.search(text, pool * 3, query_vector=vecs[i], query_tokens=qt)
        out["pool"].append(any(h.passage in section for h in answerer._distinct(hits, pool)))
    declined: list[bool] = []
    with passages_withheld(index) as hidden:
        for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
            hidden[:] = overlapping(index, doc_of[row["source"]], row["span"])
            qt = tokens[i] if tokens is not None else None
            answer = answerer.ask(text, query_vector=vecs[i], query_tokens=qt)
            if answer.results and not judged(answer, row)["passage"]:
                declined.append(not answer.answered)
    return {**out, "withheld declined": declined}


def as_natural(row: dict[str, Any]) -> dict[str, Any]:
    """A question row as `eval` reads it: training/natural_questions.jsonl names one gold
    document as a string, and an unanswerable row there has no gold or answers."""
    gold = row.get("gold") or []
    return {
        **row,
        "gold": [gold] if isinstance(gold, str) else gold,
        "answers": row.get("answers") or [],
    }


def natural_figures(
    settings: Settings, docs: Path, questions: Path, keep: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """file@1, passage@1, quote@1 and the decline shares of a natural question set (rows with
    a "project": the folder under docs), through `eval`'s own code, one project at a time;
    each question's details (`eval --details`) are added to keep when given."""
    by_project: dict[str, list[dict[str, Any]]] = {}
    for row in map(as_natural, read_jsonl(questions)):
        by_project.setdefault(str(row["project"]), []).append(row)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for project, subset in sorted(by_project.items()):
            part, details = Path(tmp) / f"{project}.jsonl", Path(tmp) / f"{project}.out.jsonl"
            part.write_text("".join(json.dumps(r) + "\n" for r in subset), encoding="utf-8")
            evaluate_files(settings, None, part, docs=docs / project, details=details)
            rows += read_jsonl(details)
    if keep is not None:
        keep.extend(rows)
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]

    def top(r: dict[str, Any]) -> dict[str, Any] | None:
        return r["results"][0] if r["results"] else None

    def share(flags: Sequence[bool]) -> float:
        return round(float(np.mean(flags)), 4) if flags else 0.0

    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "file@1": share(
            [(t := top(r)) is not None and t["source"] in r["gold"] for r in answerable]
        ),
        "passage@1": share(
            [
                (t := top(r)) is not None and contains_answer(t["passage"], r["answers"])
                for r in answerable
            ]
        ),
        "quote@1": share([bool(r["answer_in_quote"]) for r in answerable]),
        "answerable declined": share([not r["answered"] for r in answerable]),
        "unanswerable declined": share([not r["answered"] for r in unanswerable]),
    }


def main() -> None:
    """Print, per setting tried, the figures over all held-out projects as one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path)
    ap.add_argument("--pairs", type=Path, default=TRAINING / "docs_pairs.jsonl")
    ap.add_argument("--docs", type=Path, default=TRAINING / "docs", help="mine_docs.py's exports")
    ap.add_argument(
        "--try",
        dest="tries",
        nargs="*",
        default=[""],
        help="[section.]key=value (answer. by default)",
    )
    ap.add_argument(
        "--natural",
        type=Path,
        nargs="?",
        const=ROOT / "eval" / "docs_dev_natural" / "questions.jsonl",
        help="ask a natural question set instead (default: eval/docs_dev_natural)",
    )
    ap.add_argument(
        "--details",
        type=Path,
        help="with --natural: write each question's `eval --details` row, with its setting",
    )
    args = ap.parse_args()
    base = load_calibrated(args.config)
    by_project = heldout_questions(args.pairs) if args.natural is None else {}
    for spec in args.tries:
        settings = with_answer(base, spec)
        if args.natural is not None:
            kept: list[dict[str, Any]] = []
            figures = natural_figures(settings, args.docs, args.natural, kept)
            print(json.dumps({"setting": spec or "defaults", **figures}), flush=True)
            if args.details is not None:
                with args.details.open("a", encoding="utf-8") as fh:
                    for row in kept:
                        fh.write(json.dumps({"setting": spec or "defaults", **row}) + "\n")
            continue
        merged: dict[str, list[bool]] = {}
        for project, rows in sorted(by_project.items()):
            folder = args.docs / project.replace("/", "+")
            for key, values in project_figures(settings, folder, rows).items():
                merged.setdefault(key, []).extend(values)
        figures = {
            "setting": spec or "defaults",
            "questions": len(merged["quote"]),
            "quote@1": round(float(np.mean(merged["quote"])), 4),
            "passage@1": round(float(np.mean(merged["passage"])), 4),
            "answer@pool": round(float(np.mean(merged["pool"])), 4),
            "answerable declined": round(1 - float(np.mean(merged["answered"])), 4),
            "withheld declined": round(float(np.mean(merged["withheld declined"])), 4),
            "withheld questions": len(merged["withheld declined"]),
        }
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
