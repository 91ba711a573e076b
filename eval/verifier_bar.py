"""Choose the verifier's weight and bar (answer.verifier_weight, answer.min_verifier) on the
SQuAD-dev tune split and the verifier's own held-out training pairs, never on a reported set
(and answer.verifier_sentence_weight, the sentences' share).

Development script, not part of the package. For each weight tried: recall@1 and
answer_in_quote@1 on the tune split, through eval's own code, with the verifier reading the
first verifier_pool passages; the weight with the best answer_in_quote@1 is chosen (the
smaller on a tie), then the sentence weight with it, the same way. Then the bar: the 1st
percentile of the verifier's probability for the quoted passage over the tune questions whose
quote holds the answer (as min_confidence is chosen), and the 1st percentile of its
probability over the held-out positive training pairs (documentation); the lower of the two
is the bar, so neither kind of answerable question loses more than 1% to it.

    .venv/bin/python eval/verifier_bar.py --weights 0 0.5 1 2 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.answer.compose import Answerer
from bot.answer.verify import Verifier, load_verifier
from bot.app import make_embedder
from bot.config import load_settings
from bot.evaluation.data import contains_answer, in_split, passages_as_documents, read_jsonl
from bot.evaluation.memo import cached_index
from bot.evaluation.run import metrics, question_encoding, run_eval

ROOT = Path(__file__).resolve().parent
SQUAD = ROOT.parent.parent / "shared" / "data" / "squad-dev"
PAIRS = ROOT.parent / "cache" / "training" / "docs_pairs.jsonl"


class MemoVerifier:
    """A verifier that reads each (question, passage) pair once, however many weights ask."""

    def __init__(self, inner: Verifier) -> None:
        self.inner = inner
        self.seen: dict[tuple[str, str], float] = {}

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        todo = [p for p in dict.fromkeys(passages) if (question, p) not in self.seen]
        if todo:
            for p, s in zip(todo, self.inner.scores(question, todo), strict=True):
                self.seen[(question, p)] = float(s)
        return np.array([self.seen[(question, p)] for p in passages], np.float32)


def docs_bar(verifier: Verifier, limit: int) -> float | None:
    """The 1st percentile of the verifier's probability over held-out positive pairs."""
    if not PAIRS.exists():
        return None
    rows = [r for r in read_jsonl(PAIRS) if r.get("split") == "heldout" and r["label"] == 1]
    probs = [float(verifier.scores(r["question"], [r["passage"]])[0]) for r in rows[:limit]]
    return float(np.percentile(probs, 1)) if probs else None


def main() -> None:
    """Print the figures per setting and the chosen weights and bar as one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--sentence-weights", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--docs-pairs", type=int, default=2000, help="held-out pairs read at most")
    args = ap.parse_args()
    settings = load_settings(args.config)
    verifier = load_verifier()
    if verifier is None:
        raise SystemExit("no verifier model to calibrate")
    memo = MemoVerifier(verifier)
    embedder = make_embedder(settings)
    docs = passages_as_documents(read_jsonl(SQUAD / "passages.jsonl"))
    index = cached_index(docs, embedder, settings, progress=True)
    rows = in_split(read_jsonl(SQUAD / "questions.jsonl"), index.documents, "tune")
    plain = Answerer(index, embedder, settings.retrieval, settings.answer)
    texts = [str(r["question"]) for r in rows]
    vecs, tokens = question_encoding(plain.retriever, texts, settings.cache_dir)
    search, found = plain.retriever.search, {}

    def memo_search(q: str, k: int, **kwargs: object) -> list:
        if (q, k) not in found:
            found[(q, k)] = search(q, k, **kwargs)
        return found[(q, k)]

    plain.retriever.search = memo_search  # type: ignore[method-assign]

    def run(weight: float, sentence: float) -> list:
        answer = dataclasses.replace(
            settings.answer,
            verifier_weight=weight,
            verifier_sentence_weight=sentence,
            min_verifier=0.0,
        )
        answerer = Answerer(index, embedder, settings.retrieval, answer, verifier=memo)
        answerer.retriever = plain.retriever  # the same hits for every setting, searched once
        out = run_eval(answerer, rows, vecs, tokens)
        m = metrics(out)
        figures[f"{weight}/{sentence}"] = {
            k: m[k] for k in ("recall@1", "answer_in_quote@1", "answer_in_pool")
        }
        print(json.dumps({"weight": weight, "sentence_weight": sentence, **m}), flush=True)
        return out

    figures: dict[str, dict[str, float]] = {}
    outcomes = {w: run(w, 0.0) for w in args.weights}

    def quoted(w: float, s: float) -> tuple[float, float, float]:
        return (figures[f"{w}/{s}"]["answer_in_quote@1"], -w, -s)

    best = max(args.weights, key=lambda w: quoted(w, 0.0))
    by_sentence = {0.0: outcomes[best]}
    by_sentence.update({s: run(best, s) for s in args.sentence_weights if s != 0.0})
    best_s = max(by_sentence, key=lambda s: quoted(best, s))
    held = [
        r.results[0]["verifier"]
        for r in by_sentence[best_s]
        if r.results
        and r.results[0]["verifier"] is not None
        and contains_answer(r.quote, r.answers)
    ]
    squad_bar = float(np.percentile(held, 1))
    doc_bar = docs_bar(verifier, args.docs_pairs)
    bar = min(b for b in (squad_bar, doc_bar) if b is not None)
    print(
        json.dumps(
            {
                "verifier_weight": best,
                "verifier_sentence_weight": best_s,
                "min_verifier": round(bar, 4),
                "squad_tune_bar": round(squad_bar, 4),
                "docs_heldout_bar": None if doc_bar is None else round(doc_bar, 4),
                "figures": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
