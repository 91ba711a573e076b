"""Verifier training pairs from natural questions written on the training projects' documents.

training/natural_questions.jsonl holds questions written by reading the extracted text of
training-split projects (never a held-out, development or reported project: mine_docs.forbidden
and the development sets' projects are refused), in a user's words, before any run:

- answerable rows {"project", "question", "answerable": true, "gold", "answers"}: the answer
  strings are verbatim in the gold document as the bot reads it;
- unanswerable rows {"project", "question", "answerable": false, "near", "present_terms",
  "why_unanswered"}: every key term is in the project's documents, the fact asked is not (a
  default never given, a reason never explained). These are what the mined pairs lack: the
  documents discuss the topic, and no passage says what was asked.

Each question is asked of its project's documentation through the bot's own retrieval, and its
first verifier_pool distinct passages (the verifier's pool, best first) give the pairs:

- natural_positive (1): a pool passage holding an answer string; the gold document's first
  passage holding one when the pool has none;
- natural_negative (0): up to --negatives pool passages of an answerable question holding no
  answer string, best first (often the answer's own section, the part that does not say it);
- natural_unanswered (0): the first --negatives pool passages of an unanswerable question;
- natural_sentence_positive (1) / natural_sentence_negative (0), ninth session: the sentences
  of the first positive passage that hold an answer string, and the --sentences others sharing
  the most words with the question (the sentence a marker by words would take), each read
  alone, as the bot reads sentences to mark one (answer.verifier_sentence_weight).

Every row is "train": the figures that judge a model trained on them are the development sets'
(eval/docs_dev.py), on other projects. Output: cache/training/natural_pairs.jsonl, rows as
squad_pairs.py's ({"question","passage","label","kind","project","format","source","group",
"split"}), and natural_pairs_stats.json beside it.

    .venv/bin/python training/natural_pairs.py   # after mine_docs.py has fetched the projects
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]  # the bot's package, and mine_docs beside us

from mine_docs import forbidden  # noqa: E402

from bot.answer.compose import Answerer  # noqa: E402
from bot.answer.wording import clean_question  # noqa: E402
from bot.app import make_embedder  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.evaluation.data import contains_answer, read_jsonl, write_jsonl  # noqa: E402
from bot.evaluation.memo import cached_index, memo_embedder  # noqa: E402
from bot.evaluation.run import question_encoding  # noqa: E402
from bot.ingest.corpus import load_corpus  # noqa: E402
from bot.search.calibration import load_calibrated  # noqa: E402
from bot.search.store import Index  # noqa: E402

QUESTIONS = ROOT / "training" / "natural_questions.jsonl"
DOCS = ROOT / "cache" / "training" / "docs"
OUT = ROOT / "cache" / "training" / "natural_pairs.jsonl"
# The development sets' projects (eval/docs_dev_natural): never trained on by these pairs.
DEVELOPMENT = {
    "curl+curl",
    "Homebrew+brew",
    "numba+numba",
    "borgbackup+borg",
    "golang+website",
    "tox-dev+tox",
    "rust-lang+rustup",
}

log = logging.getLogger("natural_pairs")


def group_of(row: dict[str, Any]) -> str:
    """A stable id of a question (its project and words)."""
    text = f"{row['project']}\n{row['question']}"
    return "natural-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def check(rows: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the question rows (an empty list when nothing is)."""
    problems = []
    for n, r in enumerate(rows, 1):
        project = str(r.get("project", ""))
        if project in DEVELOPMENT:
            problems.append(f"row {n}: {project} is a development set's project")
        elif "+" not in project:
            problems.append(f"row {n}: project {project!r} is not an owner+name folder")
        elif why := forbidden(project.replace("+", "/", 1)):
            problems.append(f"row {n}: {project}: {why}")
        if not str(r.get("question", "")).strip():
            problems.append(f"row {n}: no question")
        if r.get("answerable") and not (r.get("gold") and r.get("answers")):
            problems.append(f"row {n}: an answerable question needs gold and answers")
    return problems


def project_pairs(
    settings: Settings, project: str, rows: list[dict[str, Any]], negatives: int, sentences: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The pairs of one project's questions, asked of its documentation as the bot reads it."""
    documents, _ = load_corpus(DOCS / project, cache_dir=settings.cache_dir)
    embedder = memo_embedder(make_embedder(settings), settings.cache_dir)
    index = cached_index(documents, embedder, settings, progress=False)
    answerer = Answerer(index, embedder, settings.retrieval, settings.answer)
    return pairs_of(answerer, settings, project, rows, negatives, sentences)


def pairs_of(
    answerer: Answerer,
    settings: Settings,
    project: str,
    rows: list[dict[str, Any]],
    negatives: int,
    sentences: int = 0,
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The pairs of the questions rows asked through answerer's retrieval (its first
    verifier_pool distinct passages), and what happened to the questions (counts); with
    sentences, the first positive passage's sentence pairs too (sentence_pairs)."""
    index = answerer.index
    doc_of = {d.source: i for i, d in enumerate(index.documents)}
    texts = [clean_question(str(r["question"]), settings.answer.max_question_chars) for r in rows]
    vectors, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    pool_size = max(settings.answer.verifier_pool, 1)
    out: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
        group = group_of(row)

        def pair(passage: int, label: int, kind: str) -> dict[str, Any]:
            source = index.passage_document(passage).source
            return {
                "question": text,  # noqa: B023
                "passage": index.passage_text(passage),
                "label": label,
                "kind": kind,
                "project": project,
                "format": source.rsplit(".", 1)[-1],
                "source": source,
                "group": group,  # noqa: B023
                "split": "train",
            }

        qt = tokens[i] if tokens is not None else None
        hits = answerer.retriever.search(
            text, pool_size * 3, query_vector=vectors[i], query_tokens=qt
        )
        pool = [h.passage for h in answerer._distinct(hits, pool_size)]
        if not row.get("answerable"):
            out += [pair(p, 0, "natural_unanswered") for p in pool[:negatives]]
            counts["unanswerable"] += 1
            continue
        answers = [str(a) for a in row["answers"]]
        holds = [p for p in pool if contains_answer(index.passage_text(p), answers)]
        if not holds:
            named = row["gold"] if isinstance(row["gold"], list) else [row["gold"]]
            golds = [doc_of[str(g)] for g in named if str(g) in doc_of]
            of_gold: list[int] = np.flatnonzero(np.isin(index.passages.doc, golds)).tolist()
            holds = [p for p in of_gold if contains_answer(index.passage_text(p), answers)][:1]
            counts["answer beyond the pool"] += 1
        if not holds:
            counts["answer not found: skipped"] += 1
            continue
        counts["answerable"] += 1
        out += [pair(p, 1, "natural_positive") for p in holds]
        rest = [p for p in pool if p not in holds]
        out += [pair(p, 0, "natural_negative") for p in rest[:negatives]]
        if sentences:
            marked = sentence_pairs(index, holds[0], text, answers, sentences)
            out += [{**pair(holds[0], label, kind), "passage": s} for s, label, kind in marked]
    return out, counts


def words(text: str) -> set[str]:
    """The lower-cased words of text (letters, digits and underscores)."""
    return set(re.findall(r"\w+", text.lower()))


def sentence_pairs(
    index: Index, passage: int, question: str, answers: list[str], negatives: int
) -> list[tuple[str, int, str]]:
    """The sentences of passage to mark or not, as (text, label, kind): each sentence holding
    an answer string (natural_sentence_positive), and the negatives sentences holding none that
    share the most words with the question (natural_sentence_negative): those a marker
    choosing by the question's words would take. None when no single sentence holds an answer
    (an answer over two sentences) or the passage has one sentence."""
    texts = [index.sentence_text(j) for j in index.sentence_ids(passage)]
    good = [t for t in texts if contains_answer(t, answers)]
    bad = [t for t in texts if not contains_answer(t, answers) and t.strip()]
    if not good or not bad:
        return []
    asked = words(question)
    bad.sort(key=lambda t: -len(asked & words(t)))  # stable: the passage's order on a tie
    return [(t, 1, "natural_sentence_positive") for t in good] + [
        (t, 0, "natural_sentence_negative") for t in bad[:negatives]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--negatives", type=int, default=3, help="negatives per question")
    parser.add_argument(
        "--sentences",
        type=int,
        default=2,
        help="unmarked sentences per answered passage, beside its marked ones (0: none)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.time()
    rows = read_jsonl(args.questions)
    problems = check(rows)
    if problems:
        raise SystemExit("\n".join([f"{args.questions}:", *problems]))
    settings = load_calibrated(None)
    by_project: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_project.setdefault(str(r["project"]), []).append(r)
    out: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for project, questions in sorted(by_project.items()):
        if not (DOCS / project).is_dir():
            raise SystemExit(f"{DOCS / project} is missing: run training/mine_docs.py")
        pairs, seen = project_pairs(settings, project, questions, args.negatives, args.sentences)
        out += pairs
        counts += seen
        log.info("%s: %d questions, %d pairs, %s", project, len(questions), len(pairs), dict(seen))
    write_jsonl(args.out, out)
    stats = {
        "questions": len(rows),
        "projects": len(by_project),
        "questions_sha256": hashlib.sha256(args.questions.read_bytes()).hexdigest(),
        "pairs": len(out),
        "by_kind": dict(sorted(Counter(r["kind"] for r in out).items())),
        "questions_by_outcome": dict(sorted(counts.items())),
        "seconds": round(time.time() - t0, 1),
    }
    args.out.with_name(args.out.stem + "_stats.json").write_text(json.dumps(stats, indent=2))
    log.info("wrote %s: %s", args.out, json.dumps(stats))


if __name__ == "__main__":
    main()
