"""Choose discord.help_min_confidence: the confidence a help-channel post needs before the bot
answers it unasked. Development script, not part of the package.

For each candidate bar: the share of the answerable questions of a split that would still be
answered, how often their top passage is the gold one, and how many questions of each
unanswerable set would be answered (against the same index).

    .venv/bin/python eval/help_bar.py --passages ../shared/data/squad-dev/passages.jsonl \
        --questions ../shared/data/squad-dev/questions.jsonl --split tune \
        --unanswerable eval/offtopic_general.jsonl
    .venv/bin/python eval/help_bar.py --questions eval/seeds_questions.jsonl \
        --unanswerable eval/offtopic_general.jsonl eval/unanswered_seeds.jsonl   # seeds index
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bot.answer.compose import Answerer
from bot.answer.wording import clean_question
from bot.app import make_embedder, open_index
from bot.evaluation.data import in_split, passages_as_documents, read_jsonl
from bot.evaluation.memo import cached_index
from bot.evaluation.run import question_encoding
from bot.search.calibration import load_calibrated

BARS = (1.27, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0)


def outcomes(answerer: Answerer, rows: list[dict], cache: Path) -> list[tuple[float, bool]]:
    """(confidence, top passage is gold) per question."""
    texts = [clean_question(str(r["question"]), answerer.settings.max_question_chars) for r in rows]
    vecs, toks = question_encoding(answerer.retriever, texts, cache)
    out = []
    for i, text in enumerate(texts):
        qt = toks[i] if toks is not None else None
        hits = answerer.retriever.search(text, 60, query_vector=vecs[i], query_tokens=qt)
        answer = answerer.compose(text, vecs[i], hits, 1)
        top = answer.results[0].source if answer.results else None
        out.append((answer.confidence, top in [str(g) for g in rows[i].get("gold") or []]))
    return out


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=Path, help="JSONL passages; default: the seeds index")
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--split", default="all", choices=("all", "tune", "report"))
    ap.add_argument("--unanswerable", type=Path, nargs="*", default=[])
    ap.add_argument("--config", type=Path)
    args = ap.parse_args()
    settings = load_calibrated(args.config)
    if args.passages:
        embedder = make_embedder(settings)
        docs = passages_as_documents(read_jsonl(args.passages))
        index = cached_index(docs, embedder, settings, progress=True)
        answerer = Answerer(index, embedder, settings.retrieval, settings.answer)
    else:
        answerer = open_index(settings, make_embedder(settings), update=True)[0].answerer
    rows = read_jsonl(args.questions)
    if args.split != "all":
        rows = in_split(rows, answerer.index.documents, args.split)
    answerable = [r for r in rows if r.get("answerable", True)]
    sets = {
        "unanswerable in --questions": [r for r in rows if not r.get("answerable", True)],
        **{str(p): read_jsonl(p) for p in args.unanswerable},
    }
    good = outcomes(answerer, answerable, settings.cache_dir)
    bad = {name: outcomes(answerer, rs, settings.cache_dir) for name, rs in sets.items() if rs}
    print(f"{len(good)} answerable; " + "; ".join(f"{n}: {len(v)}" for n, v in bad.items()))
    print("bar   answered  top passage gold  " + "  ".join(f"answered of {n}" for n in bad))
    for bar in BARS:
        kept = [gold for conf, gold in good if conf >= bar]
        share = len(kept) / max(len(good), 1)
        has_gold = any(r.get("gold") for r in answerable)
        gold = f"{np.mean(kept) if kept else 0:7.1%}" if has_gold else "      -"
        row = f"{bar:.2f}  {share:7.1%}  {gold}          "
        row += "  ".join(f"{sum(c >= bar for c, _ in v)}/{len(v)}" for v in bad.values())
        print(row)


if __name__ == "__main__":
    main()
