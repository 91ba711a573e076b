"""Replay the choice of the marked sentence offline: for each answerable question of a natural
development set, the top passage's markable sentences (Answerer.markable) with what the
Answerer scores them by, and whether each holds the answer; then ways of choosing among them,
each in seconds instead of a run of eval/docs_dev.py. Development script, not part of the
package; never point it at a reported set.

    .venv/bin/python eval/marking_replay.py dump --docs cache/training/docs \\
        eval/docs_dev_natural/questions.jsonl cache/replay/natural.jsonl
    .venv/bin/python eval/marking_replay.py replay cache/replay/*.jsonl

`replay` marks with Answerer.quote's own code (compose.mark) from:
- "shipped": the Answerer's own scores (sentence_scores, compose.followed for first-person
  questions, compose.shaped for questions whose answer has a telltale form), which
  reproduces eval's quote@1;
- "features": a logistic regression over hand features (the scores' parts, the neighbours',
  the question's kind against digits, code, negation and cause), trained on the other
  projects' questions (leave one project out, a project's PDF copy with it);
- "verifier": the shipped verifier reading each sentence alone, or with the next one in its
  paragraph, its probability added to the shipped score at each weight.
Counts are questions whose marked sentences hold an answer, per file; the ceiling counts
those where one of the markable sentences does (the rest lose the passage, not the mark).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer.compose import Answerer, TermWeights, followed, mark, shaped
from bot.answer.verify import load_verifier
from bot.answer.wording import answer_forms, clean_question
from bot.app import make_embedder
from bot.evaluation.data import contains_answer, read_jsonl
from bot.evaluation.memo import cached_index, memo_embedder
from bot.evaluation.run import question_encoding
from bot.ingest.corpus import load_corpus
from bot.search.calibration import load_calibrated
from bot.search.retrieval import Hit

Row = dict[str, Any]
Scorer = Callable[[Row], np.ndarray]


def dump(docs: Path, questions: Path, out: Path) -> None:
    """Write one row per answerable question: the top passage's markable sentences, their
    scores and parts, and which hold an answer."""
    settings = load_calibrated(None)
    verifier = load_verifier() if settings.answer.verifier else None
    by_project: dict[str, list[Row]] = {}
    for r in read_jsonl(questions):
        if r.get("answerable", True):
            by_project.setdefault(str(r["project"]), []).append(r)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for project, rows in sorted(by_project.items()):
            documents, _ = load_corpus(docs / project, cache_dir=settings.cache_dir)
            embedder = memo_embedder(make_embedder(settings), settings.cache_dir)
            index = cached_index(documents, embedder, settings, progress=False)
            answerer = Answerer(
                index, embedder, settings.retrieval, settings.answer, verifier=verifier
            )
            top = watch_top(answerer)
            texts = [clean_question(str(r["question"]), 1000) for r in rows]
            vecs, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
            for i, (r, q) in enumerate(zip(rows, texts, strict=True)):
                top.clear()
                qt = tokens[i] if tokens is not None else None
                answerer.ask(q, query_vector=vecs[i], query_tokens=qt)
                if top:
                    fh.write(json.dumps({"project": project, **candidates(answerer, r, *top[0])}))
                    fh.write("\n")


Top = list[tuple[Hit, TermWeights, np.ndarray, bool]]


def watch_top(answerer: Answerer) -> Top:
    """A list that receives what the answerer's next top quote is made from (its passage,
    the question's terms and vector, whether it tells a situation) once cleared."""
    top: Top = []
    quote = answerer.quote

    def watched(hit: Hit, q_terms: TermWeights, qv: np.ndarray, *a: Any, **kw: Any) -> Any:
        if kw.get("reach") and not top:  # the top passage's own call
            top.append((hit, q_terms, qv, bool(kw.get("situation"))))
        return quote(hit, q_terms, qv, *a, **kw)

    answerer.quote = watched  # type: ignore[method-assign]
    return top


def candidates(
    answerer: Answerer, r: Row, hit: Hit, q_terms: TermWeights, qv: np.ndarray, situation: bool
) -> Row:
    """The markable sentences of the top passage with what they are scored by."""
    a = answerer
    ids, texts, blocks, scores = a.sentence_scores(hit, q_terms, qv, reach=True)
    headings = np.array([a.is_heading(j) for j in ids])
    asks = np.array([t.rstrip().endswith("?") for t in texts])
    return {
        "question": r["question"],
        "answers": r["answers"],
        "texts": texts,
        "scores": [float(s) if np.isfinite(s) else None for s in scores],
        "dense": [float(x) for x in a.index.sentence_vectors[ids] @ qv],
        "lex": [a.coverage(q_terms, t) for t in texts],
        "hcov": [float(x) for x in a.heading_coverage(ids, headings, asks, q_terms)],
        "heading": headings.tolist(),
        "marked_heading": [a.marked_heading(j) for j in ids],
        "block": blocks.tolist(),
        "para": [k > 0 and a.same_paragraph(ids[k - 1], ids[k]) for k in range(len(ids))],
        "own": [j in set(a.index.sentence_ids(hit.passage)) for j in ids],
        "situation": situation,
        "label": [contains_answer(t, r["answers"]) for t in texts],
    }


def shipped(r: Row, follow_weight: float = 0.5, cue_weight: float = 0.3) -> np.ndarray:
    """The Answerer's own sentence scores (Answerer.quote's, with followed and the cues)."""
    s = np.array([-np.inf if x is None else x for x in r["scores"]], np.float64)
    if r["situation"] and len(s) > 1:
        s = s + follow_weight * followed(s, r["para"])
    forms = answer_forms(r["question"])
    if cue_weight > 0 and forms and len(s) > 1:
        s = s + cue_weight * shaped(r["texts"], forms)
    return s


def marked(r: Row, s: np.ndarray) -> tuple[int, int]:
    """The sentences Answerer.quote marks for scores s (compose.mark, max_quote_sentences 2)."""
    return mark(s, r["texts"], r["para"], r["block"], lambda k: r["marked_heading"][k], 2)


def holds(r: Row, scorer: Scorer) -> bool:
    lo, hi = marked(r, scorer(r))
    return contains_answer(" ".join(r["texts"][lo : hi + 1]), r["answers"])


_NEG = re.compile(r"\b(not|no|never|cannot|can't|don't|doesn't|isn't|won't|only)\b", re.I)
_CODE = re.compile(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+|--[a-z]|\w/\w|=\S|\w\(\)|`")
_CAUSE = re.compile(r"\b(because|since|due to|so that|caus)", re.I)
_ACT = re.compile(r"\b(use|set|run|add|pass|install|change|enable|disable|export|switch)\b", re.I)


def features(r: Row) -> np.ndarray:
    """Per sentence: the score's parts, its neighbours' in the paragraph, and the question's
    kind (a number, a place, yes or no, why, how) against what the sentence holds."""
    q = r["question"].lower()
    kind = {
        "num": bool(re.search(r"how many|how much|version|default|how long|when|what year", q)),
        "where": "where" in q,
        "yesno": bool(re.match(r"(is|are|can|does|do|will|should|could|would|has|have)\b", q)),
        "why": "why" in q,
        "how": bool(re.search(r"\bhow (do|can|should|to)\b|workaround|\bfix\b|avoid|\bstop\b", q)),
    }
    d, lex, hc = (np.array(r[k], np.float64) for k in ("dense", "lex", "hcov"))
    n, rows = len(d), []
    for k, t in enumerate(r["texts"]):
        joined_prev = k > 0 and r["para"][k]
        joined_next = k + 1 < n and r["para"][k + 1]
        digit, code = bool(re.search(r"\d", t)), bool(_CODE.search(t))
        rows.append(
            [
                d[k],
                lex[k],
                hc[k],
                float(r["own"][k]),
                d[k - 1] if joined_prev else 0.0,
                lex[k - 1] if joined_prev else 0.0,
                d[k + 1] if joined_next else 0.0,
                lex[k + 1] if joined_next else 0.0,
                float(not joined_prev),
                d[k] - d.max(),
                lex[k] - lex.max(),
                kind["num"] * digit,
                kind["where"] * code,
                kind["yesno"] * bool(_NEG.search(t)),
                kind["why"] * bool(_CAUSE.search(t)),
                kind["how"] * bool(_ACT.search(t)),
                kind["how"] * code,
                float(digit),
                float(code),
                np.log1p(len(t.split())),
            ]
        )
    return np.array(rows, np.float64)


def learned(rows: list[Row]) -> dict[int, np.ndarray]:
    """Per row (by position), the scores of a logistic regression over features trained on
    the other projects' rows (leave one project out)."""
    from sklearn.linear_model import LogisticRegression

    feats = [features(r) for r in rows]
    out: dict[int, np.ndarray] = {}
    for project in sorted({r["project"] for r in rows}):
        x, y = [], []
        for f, r in zip(feats, rows, strict=True):
            ok = np.isfinite(shipped(r))
            if r["project"] != project and any(r["label"]):
                x.append(f[ok])
                y.append(np.array(r["label"])[ok])
        model = LogisticRegression(max_iter=2000, class_weight="balanced")
        model.fit(np.vstack(x), np.concatenate(y))
        for i, r in enumerate(rows):
            if r["project"] == project:
                s = shipped(r)
                out[i] = np.where(np.isfinite(s), model.decision_function(feats[i]), -np.inf)
    return out


def verifier_reads(rows: list[Row]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per row, the shipped verifier's probability for each sentence alone and with the next
    one of its paragraph."""
    verifier = load_verifier()
    if verifier is None:
        raise SystemExit("no verifier model is installed")
    out = {}
    for i, r in enumerate(rows):
        t, n = r["texts"], len(r["texts"])
        windows = [
            t[k] + (" " + t[k + 1] if k + 1 < n and r["para"][k + 1] else "") for k in range(n)
        ]
        out[i] = (verifier.scores(r["question"], t), verifier.scores(r["question"], windows))
    return out


def replay(files: list[Path], weights: list[float]) -> None:
    rows: list[Row] = []
    for f in files:
        rows += [{**r, "file": f.name} for r in read_jsonl(f)]
    at = {id(r): i for i, r in enumerate(rows)}
    lr = learned(rows)
    reads = verifier_reads(rows)
    scorers: dict[str, Scorer] = {
        "shipped": shipped,
        "features (leave one project out)": lambda r: lr[at[id(r)]],
    }
    for w in weights:
        scorers[f"verifier alone, +{w}"] = lambda r, w=w: shipped(r) + w * reads[at[id(r)]][0]
        scorers[f"verifier window, +{w}"] = lambda r, w=w: shipped(r) + w * reads[at[id(r)]][1]
    names = sorted({r["file"] for r in rows})
    for label, scorer in scorers.items():
        counts = {n: sum(holds(r, scorer) for r in rows if r["file"] == n) for n in names}
        print(json.dumps({"choice": label, **counts}), flush=True)
    ceiling = {n: sum(any(r["label"]) for r in rows if r["file"] == n) for n in names}
    print(json.dumps({"choice": "ceiling: a markable sentence holds an answer", **ceiling}))
    print(
        json.dumps({"choice": "questions", **{n: sum(r["file"] == n for r in rows) for n in names}})
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="write the candidates of one natural question set")
    d.add_argument("--docs", type=Path, required=True, help="folder with one folder per project")
    d.add_argument("questions", type=Path)
    d.add_argument("out", type=Path)
    r = sub.add_parser("replay", help="count the marked sentences holding an answer")
    r.add_argument("files", type=Path, nargs="+")
    r.add_argument("--weights", type=float, nargs="*", default=[0.25, 0.5, 1.0, 2.0])
    args = ap.parse_args()
    if args.command == "dump":
        dump(args.docs, args.questions, args.out)
    else:
        replay(args.files, args.weights)


if __name__ == "__main__":
    main()
