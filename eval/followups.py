"""Measure follow-up questions on SQuAD-dev: each pair of eval/followups/SPLIT.jsonl (made by
eval/followups/make.py) is asked three ways, and every question of the split is asked alone
and after an unrelated question. Development script, not part of the package.

- full: the rewritten question as SQuAD asks it, alone (what the follow-up should reach);
- follow-up with context: Answerer.ask(follow-up, context=earlier question), as a thread does;
- follow-up alone: the same words without their context (what the context is worth);
- standalone: each question of the split asked alone, and asked after a question about
  another article (a thread's new topic): it must not lose.

Metrics are `eval`'s own (bot/evaluation/run.py: answer_in_quote@1 and the others) over the
bot's real model and a cached index of SQuAD-dev's passages, as `python -m bot eval` builds it.

    .venv/bin/python eval/followups.py --split report
    .venv/bin/python eval/followups.py --split tune --set CONTEXT_WEIGHT=0.3   # tuning only
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer import compose, followup
from bot.answer.compose import Answer, Answerer
from bot.answer.verify import load_verifier
from bot.answer.wording import clean_question
from bot.app import make_embedder
from bot.config import Settings
from bot.evaluation.data import contains_answer, in_split, passages_as_documents, read_jsonl
from bot.evaluation.memo import cached_index
from bot.evaluation.run import Row, metrics, question_encoding, top_result
from bot.search.calibration import load_calibrated

ROOT = Path(__file__).resolve().parent
SQUAD = ROOT.parent.parent / "shared" / "data" / "squad-dev"
SHOWN = ("answer_in_quote@1", "answer_in_passage@1", "recall@1", "wrongly_declined")


def open_answerer(settings: Settings) -> Answerer:
    """The Answerer over SQuAD-dev's passages (the index `eval --passages` caches)."""
    docs = passages_as_documents(read_jsonl(SQUAD / "passages.jsonl"))
    embedder = make_embedder(settings)
    index = cached_index(docs, embedder, settings, progress=True)
    verifier = load_verifier() if settings.answer.verifier else None
    return Answerer(index, embedder, settings.retrieval, settings.answer, verifier=verifier)


def ask_all(
    answerer: Answerer,
    settings: Settings,
    questions: Sequence[str],
    contexts: Sequence[str | None] | None = None,
) -> list[Answer]:
    """Answer each question (after its context, where given) through Answerer.ask."""
    texts = [clean_question(q, answerer.settings.max_question_chars) for q in questions]
    vectors, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    return [
        answerer.ask(
            text,
            query_vector=vectors[i],
            query_tokens=tokens[i] if tokens is not None else None,
            context=contexts[i] if contexts is not None else None,
        )
        for i, text in enumerate(texts)
    ]


def rows_of(answers: Sequence[Answer], items: Sequence[dict[str, Any]]) -> list[Row]:
    """`eval`'s Row for each answer, from its quoted sources (the top one first)."""
    rows = []
    for answer, item in zip(answers, items, strict=True):
        top = answer.results[0] if answer.results else None
        rows.append(
            Row(
                ranked_docs=[s.source for s in answer.results],
                gold=[str(g) for g in item["gold"]],
                answers=[str(a) for a in item["answers"]],
                answerable=True,
                answered=answer.answered,
                top_passage=top.passage if top else "",
                quote=top.quote if top else "",
                quote_sentences=top.quote_sentences if top else 0,
                question=answer.question,
                results=[top_result(s) for s in answer.results],
            )
        )
    return rows


# Where the unrelated earlier question is taken from: this share of the list away. The first is
# the measure the issue asks for; --unrelated N asks each question after the first N of them
# (more chances to see a question pulled off its answer by a context it has nothing to do with).
UNRELATED_AT = (1 / 2, 1 / 3, 1 / 5, 2 / 3, 1 / 7, 3 / 4, 1 / 11, 5 / 6)


def unrelated(
    items: Sequence[dict[str, Any]], article: Sequence[str], at: float = 1 / 2
) -> list[str]:
    """For each question, an earlier one about another article: the question the share at of
    the list away, or the next one after it about another article (a fixed, reproducible
    choice)."""
    n = len(items)
    out = []
    for i in range(n):
        j = (i + int(n * at)) % n
        while article[j] == article[i]:
            j = (j + 1) % n
        out.append(str(items[j]["question"]))
    return out


def figures(rows: Sequence[Row]) -> dict[str, float]:
    """The metrics shown, rounded."""
    m = metrics(rows)
    return {k: round(float(m[k]), 4) for k in SHOWN if k in m}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tune", "report"), default="report")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="tuning only: a followup or compose constant (CONTEXT_WEIGHT, "
        "CONTEXT_TERM_WEIGHT, FOLLOW_UP_MARGIN)",
    )
    parser.add_argument("--no-standalone", action="store_true", help="pairs only")
    parser.add_argument("--details", type=Path, help="write each pair's answers here")
    parser.add_argument(
        "--unrelated",
        type=int,
        default=1,
        choices=range(1, len(UNRELATED_AT) + 1),
        metavar=f"1..{len(UNRELATED_AT)}",
        help="ask each standalone question after this many different unrelated ones",
    )
    args = parser.parse_args()
    for pair in args.set:
        name, value = pair.split("=")
        setattr(followup if hasattr(followup, name) else compose, name, float(value))
    settings = load_calibrated(None)
    answerer = open_answerer(settings)
    pairs = read_jsonl(ROOT / "followups" / f"{args.split}.jsonl")
    started = time.perf_counter()
    full = ask_all(answerer, settings, [p["full"] for p in pairs])
    with_context = ask_all(
        answerer, settings, [p["question"] for p in pairs], [p["context"] for p in pairs]
    )
    alone = ask_all(answerer, settings, [p["question"] for p in pairs])
    result: dict[str, Any] = {
        "split": args.split,
        "pairs": len(pairs),
        "detected as follow-ups": round(
            float(np.mean([followup.depends(a.question) for a in with_context])), 4
        ),
        "full question": figures(rows_of(full, pairs)),
        "follow-up with context": figures(rows_of(with_context, pairs)),
        "follow-up alone": figures(rows_of(alone, pairs)),
    }
    if args.details:
        with args.details.open("w", encoding="utf-8") as fh:
            for p, f, w, a in zip(pairs, full, with_context, alone, strict=True):
                row = {**p, "full_quote": _quote(f), "with_context": _quote(w), "alone": _quote(a)}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    if not args.no_standalone:
        docs = passages_as_documents(read_jsonl(SQUAD / "passages.jsonl"))
        items = in_split(read_jsonl(SQUAD / "questions.jsonl"), docs, args.split)
        article = [str(q["gold"][0]).rsplit("-p", 1)[0] for q in items]
        questions = [str(q["question"]) for q in items]
        by_itself = rows_of(ask_all(answerer, settings, questions), items)
        result["standalone"] = {
            "questions": len(items),
            "detected as follow-ups": round(
                float(np.mean([followup.depends(q) for q in questions])), 4
            ),
            "alone": figures(by_itself),
        }
        for at in UNRELATED_AT[: args.unrelated]:
            after = rows_of(
                ask_all(answerer, settings, questions, unrelated(items, article, at)), items
            )
            result["standalone"][f"after an unrelated question ({at:.2f} away)"] = {
                **figures(after),
                "answered differently": sum(
                    a.results != b.results for a, b in zip(by_itself, after, strict=True)
                ),
                "lost": sum(lost(a, b) for a, b in zip(by_itself, after, strict=True)),
            }
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))


def lost(alone: Row, after: Row) -> bool:
    """Whether a question answered with its answer quoted alone loses that after another."""
    return quoted(alone) and not quoted(after)


def quoted(row: Row) -> bool:
    """Whether row's top quote holds one of the answers (answer_in_quote@1 for one row)."""
    return row.answered and contains_answer(row.quote, row.answers)


def _quote(answer: Answer) -> dict[str, Any]:
    top = answer.results[0] if answer.results else None
    return {
        "answered": answer.answered,
        "confidence": round(answer.confidence, 3),
        "source": top.source if top else None,
        "quote": top.quote if top else None,
    }


if __name__ == "__main__":
    main()
