"""Verifier training pairs from SQuAD-dev's TUNE split (never the report split).

For each tune question (bot.evaluation.data.in_split(..., "tune")):

- positive (label 1): the question with the bot's passage (index window) of its gold paragraph
  that holds a gold answer string; the first such window when the paragraph was cut in several.
- hard_negative (label 0): the bot's own top-ranked passages for the question with the gold
  paragraph withheld, exactly as eval/decline_check.py's withheld() does (every score of the gold
  passages masked before fusion), distinct as the bot keeps them (Answerer._distinct), best
  first: up to --negatives of them whose text holds no gold answer string.
- sentence_positive / sentence_negative (label 1 / 0, with --sentences, the default): the
  sentence of that gold window that holds the answer, and one other sentence of the same window
  that holds none (seeded choice): for the bot's sentence choice, and cheap to train on.
- answer_removed (label 0, with --answer-removed; not in the runs before the seventh session):
  the positive window with every sentence that holds a gold answer string taken out, when at
  least two sentences remain: a passage on the question's very topic, in its own words, that
  no longer says what was asked. Retrieval scores and a verifier trained on other paragraphs
  both take such a passage for an answer ("the docs discuss it but never give the value").

With --heldout-by article, two whole articles (the first titles in sha1 order: Packet switching,
Victoria and Albert Museum, 401 questions) are "heldout", so held-out pairs are about passages
no training pair came from; use it for the next run. The runs so far used the default:
A fixed 15% of questions (sha1 of the question id) is "heldout", the rest "train"; every pair of
a question shares its split. Output: cache/training/squad_pairs.jsonl, rows
{"question","passage","label","kind","project":"squad","format":"squad","source","group","split"}
(source = passage id, group = question id), plus squad_pairs_stats.json beside it.

    nice -n 10 .venv/bin/python training/squad_pairs.py > cache/training/squad_pairs.log 2>&1

The SQuAD index is built (or reused) by bot.evaluation.memo.cached_index under the settings'
cache_dir (load_calibrated(None) defaults, or --cache-dir). Licence of the output: CC BY-SA 4.0
(SQuAD; passages are Wikipedia text).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.answer.compose import Answerer  # noqa: E402
from bot.answer.wording import clean_question  # noqa: E402
from bot.app import make_embedder  # noqa: E402
from bot.evaluation.data import (  # noqa: E402
    contains_answer,
    in_split,
    passages_as_documents,
    read_jsonl,
    write_jsonl,
)
from bot.evaluation.memo import cached_index  # noqa: E402
from bot.evaluation.run import question_encoding  # noqa: E402
from bot.evaluation.withheld import passages_withheld  # noqa: E402
from bot.search.calibration import load_calibrated  # noqa: E402

SQUAD = ROOT.parent / "shared" / "data" / "squad-dev"
OUT = ROOT / "cache" / "training"
HELDOUT_PERCENT = 15
SEED = 19

log = logging.getLogger("squad_pairs")


def split_of_question(qid: str) -> str:
    """The fixed train/heldout split of a question, by a hash of its id (15% heldout)."""
    h = int(hashlib.sha1(qid.encode("utf-8")).hexdigest()[:8], 16)
    return "heldout" if h % 100 < HELDOUT_PERCENT else "train"


# With --heldout-by article: these tune-split articles (by title) are held out whole. Two of
# the 10, so the held-out pairs are about passages no training pair came from (held-out
# questions about trained-on passages flattered the second run: README, The verifier).
HELDOUT_ARTICLES = 2


def heldout_articles(titles: list[str], n: int = HELDOUT_ARTICLES) -> set[str]:
    """The n titles first in sha1 order (fixed, whatever the order given): a larger n keeps
    the first n's choice and adds to it."""
    ordered = sorted(set(titles), key=lambda t: hashlib.sha1(t.encode("utf-8")).hexdigest())
    return set(ordered[:n])


def answer_removed(index: Any, passage: int, answers: list[str]) -> str | None:
    """The passage's text without the sentences holding an answer (each sentence's own span,
    the text between them kept), or None when fewer than two sentences would remain or an
    answer string still reads across what is left."""
    text = index.passage_text(passage)
    start = int(index.passages[passage].start)
    spans = [
        (
            max(0, int(index.sentences[j].start) - start),
            min(len(text), int(index.sentences[j].end) - start),
        )
        for j in index.sentence_ids(passage)
    ]
    drop = [(a, b) for a, b in spans if contains_answer(text[a:b], answers)]
    if not drop or len(spans) - len(drop) < 2:
        return None
    kept, at = [], 0
    for a, b in drop:
        kept.append(text[at:a])
        at = b
    kept.append(text[at:])
    rest = " ".join(" ".join(kept).split())
    return None if contains_answer(rest, answers) else rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT / "squad_pairs.jsonl")
    parser.add_argument("--cache-dir", type=Path, help="index cache (default: the settings')")
    parser.add_argument("--negatives", type=int, default=3, help="hard negatives per question")
    parser.add_argument("--limit", type=int, default=0, help="first N tune questions (smoke)")
    parser.add_argument(
        "--no-sentences", dest="sentences", action="store_false", help="no sentence pairs"
    )
    parser.add_argument(
        "--answer-removed",
        action="store_true",
        help="also the positive window without its answer sentences, as a negative",
    )
    parser.add_argument(
        "--heldout-by",
        choices=("question", "article"),
        default="question",
        help="hold out 15%% of questions (the runs so far) or whole articles (honest AUC)",
    )
    parser.add_argument(
        "--heldout-articles",
        type=int,
        default=HELDOUT_ARTICLES,
        help="with --heldout-by article: how many of the tune split's 10 articles "
        "(eval/verifier_bar.py chooses the bar on their questions; two give 401, too few to "
        "place a bar within a point)",
    )
    args = parser.parse_args()
    if args.heldout_articles < 1:
        parser.error("--heldout-articles must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.time()

    settings = load_calibrated(None)
    if args.cache_dir is not None:
        settings = dataclasses.replace(settings, cache_dir=args.cache_dir.resolve())
    passages = read_jsonl(SQUAD / "passages.jsonl")
    docs = passages_as_documents(passages)
    embedder = make_embedder(settings)
    log.info("index (cache %s)", settings.cache_dir)
    index = cached_index(docs, embedder, settings, progress=False)
    answerer = Answerer(index, embedder, settings.retrieval, settings.answer)
    rows = in_split(read_jsonl(SQUAD / "questions.jsonl"), index.documents, "tune")
    if args.limit:
        rows = rows[: args.limit]
    texts = [clean_question(str(r["question"]), 1000) for r in rows]
    log.info("%d tune questions; encoding", len(rows))
    vectors, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    log.info("encoded in %.0fs", time.time() - t0)

    passage_doc = np.asarray(index.passages.doc)
    source_of = {d.source: i for i, d in enumerate(index.documents)}
    title_of = {d.source: d.title for d in index.documents}
    article = [title_of[str(r["gold"][0])] for r in rows]
    held = (
        heldout_articles(article, args.heldout_articles) if args.heldout_by == "article" else set()
    )
    if held and held >= set(article):
        raise SystemExit(
            f"--heldout-articles {args.heldout_articles} leaves none of the "
            f"{len(set(article))} tune articles to train on"
        )
    if held:
        log.info("held out whole: %s", sorted(held))
    rng = random.Random(SEED)
    out_rows: list[dict[str, Any]] = []
    no_positive = 0
    # The gold passage withheld, as eval/decline_check.py's withheld() does it.
    with passages_withheld(index) as hidden:
        for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
            qid = str(row["id"])
            answers = [str(a) for a in row["answers"]]
            if args.heldout_by == "article":
                split = "heldout" if article[i] in held else "train"
            else:
                split = split_of_question(qid)

            def pair(passage: str, label: int, kind: str, source: str) -> dict[str, Any]:
                return {
                    "question": text,  # noqa: B023
                    "passage": passage,
                    "label": label,
                    "kind": kind,
                    "project": "squad",
                    "format": "squad",
                    "source": source,
                    "group": qid,  # noqa: B023
                    "split": split,  # noqa: B023
                }

            gold = [source_of[str(g)] for g in row["gold"]]
            gold_rows = np.flatnonzero(np.isin(passage_doc, gold)).tolist()
            # Positive: the gold paragraph's window holding the answer.
            pos = next(
                (p for p in gold_rows if contains_answer(index.passage_text(p), answers)), None
            )
            if pos is None:
                no_positive += 1
            else:
                src = index.passage_document(pos).source
                out_rows.append(pair(index.passage_text(pos), 1, "positive", src))
                if args.sentences:
                    sents = [index.sentence_text(j) for j in index.sentence_ids(pos)]
                    good = [s for s in sents if contains_answer(s, answers)]
                    bad = [s for s in sents if not contains_answer(s, answers)]
                    if good and bad:
                        out_rows.append(pair(good[0], 1, "sentence_positive", src))
                        out_rows.append(pair(rng.choice(bad), 0, "sentence_negative", src))
                if args.answer_removed:
                    rest = answer_removed(index, pos, answers)
                    if rest is not None:
                        out_rows.append(pair(rest, 0, "answer_removed", src))
            # Hard negatives: what the bot ranks first with the gold paragraph withheld.
            hidden[:] = gold_rows
            qt = tokens[i] if tokens is not None else None
            hits = answerer.retriever.search(
                text, 3 * args.negatives, query_vector=vectors[i], query_tokens=qt
            )
            kept = 0
            for h in answerer._distinct(hits, len(hits)):  # the bot's own order
                if kept == args.negatives:
                    break
                if int(passage_doc[h.passage]) in gold:
                    continue
                ptext = index.passage_text(h.passage)
                if contains_answer(ptext, answers):
                    continue
                src = index.passage_document(h.passage).source
                out_rows.append(pair(ptext, 0, "hard_negative", src))
                kept += 1
            if (i + 1) % 500 == 0:
                log.info("%d/%d questions, %d pairs", i + 1, len(rows), len(out_rows))

    write_jsonl(args.out, out_rows)
    counts = Counter(f"{r['split']}/{r['kind']}" for r in out_rows)
    stats = {
        "questions": len(rows),
        "questions_heldout": len({r["group"] for r in out_rows if r["split"] == "heldout"}),
        "heldout_by": args.heldout_by,
        "heldout_articles": sorted(held),
        "questions_without_positive_window": no_positive,
        "pairs": len(out_rows),
        "by_split_kind": dict(sorted(counts.items())),
        "seconds": round(time.time() - t0, 1),
        "index_cache": str(settings.cache_dir),
    }
    args.out.with_name(args.out.stem + "_stats.json").write_text(json.dumps(stats, indent=2))
    log.info("wrote %s: %s", args.out, json.dumps(stats))


if __name__ == "__main__":
    main()
