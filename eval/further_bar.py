"""Choose answer.min_further_confidence: when a further source ("Also in the sources") is
evidence too. Development script, not part of the package.

For every answerable question of the chosen split that the bot answers, each further source
it would consider (the distinct passages after the top one, up to -k) gets its confidence (the
same formula as the top passage's: best-sentence cosine + token_confidence_weight x MaxSim)
and a label: evidence when its passage contains one of the question's answers. Prints the
confidence percentiles of both groups and, for candidate bars, the share of evidence kept and
of the rest dropped; then, for the evidence that passes the confidence bar, the percentiles of
its retrieval (fused) score: answer.min_further_score is the one at --percentile.

    .venv/bin/python eval/further_bar.py --passages ../shared/data/squad-dev/passages.jsonl \
        --questions ../shared/data/squad-dev/questions.jsonl --split tune
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bot.answer.compose import Answerer
from bot.answer.wording import clean_question
from bot.app import make_embedder
from bot.evaluation.data import contains_answer, in_split, passages_as_documents, read_jsonl
from bot.evaluation.memo import cached_index
from bot.evaluation.run import question_encoding
from bot.search.calibration import load_calibrated


def main() -> None:
    """Print the further sources' confidence by label, and candidate bars."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=Path, required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--split", default="tune")
    ap.add_argument("-k", type=int, default=3)
    ap.add_argument("--percentile", type=float, default=1.0)
    ap.add_argument("--config", type=Path, default=None, help="config.toml (default: ./)")
    args = ap.parse_args()
    settings = load_calibrated(args.config)
    embedder = make_embedder(settings)
    index = cached_index(
        passages_as_documents(read_jsonl(args.passages)), embedder, settings, progress=True
    )
    answerer = Answerer(index, embedder, settings.retrieval, settings.answer)
    rows = [
        r
        for r in in_split(read_jsonl(args.questions), index.documents, args.split)
        if r.get("answerable", True) and r.get("gold")
    ]
    texts = [str(r["question"]) for r in rows]
    vecs, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    evidence, other, top_conf = [], [], []
    fused: list[float] = []  # retrieval scores of evidence passing the confidence bar
    for i, r in enumerate(rows):
        q = clean_question(texts[i], answerer.settings.max_question_chars)
        qt = tokens[i] if tokens is not None else None
        ranked = answerer.retriever.search(q, args.k * 3, query_vector=vecs[i], query_tokens=qt)
        hits = answerer._distinct(ranked, args.k)
        if not hits:
            continue
        q_terms = answerer.term_weights(q)
        top = answerer.quote(hits[0], q_terms, vecs[i], 2)
        conf, bar = answerer.confidence(q, hits[0], q_terms, top)
        if conf < bar:
            continue  # declined: no further sources either
        top_conf.append(conf)
        for h in hits[1:]:
            src = answerer.quote(h, q_terms, vecs[i], 1)
            c, _ = answerer.confidence(q, h, q_terms, src)
            is_evidence = contains_answer(src.passage, r["answers"])
            (evidence if is_evidence else other).append(c)
            if is_evidence and c >= settings.answer.min_further_confidence:
                fused.append(h.score)
    ev, ot = np.array(evidence), np.array(other)
    out = {
        "questions_answered": len(top_conf),
        "further_sources": len(ev) + len(ot),
        "evidence": len(ev),
        "evidence_percentiles": {
            p: round(float(np.percentile(ev, p)), 3) for p in (1, 5, 10, 25, 50)
        },
        "other_percentiles": {
            p: round(float(np.percentile(ot, p)), 3) for p in (50, 75, 90, 95, 99)
        },
        "bar_at_percentile": round(float(np.percentile(ev, args.percentile)), 3),
        "evidence_score_percentiles": {
            p: round(float(np.percentile(fused, p)), 3) for p in (1, 5, 10, 25, 50)
        },
        "score_bar_at_percentile": round(float(np.percentile(fused, args.percentile)), 3),
        "bars": {
            f"{b:.2f}": {
                "evidence_kept": round(float((ev >= b).mean()), 3),
                "other_dropped": round(float((ot < b).mean()), 3),
            }
            for b in np.arange(0.8, 1.81, 0.1)
        },
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
