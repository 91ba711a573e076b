"""Choose the verifier's weight and bar (answer.verifier_weight, answer.min_verifier) on the
SQuAD-dev tune articles the verifier never trained on and its own held-out training pairs,
never on a reported set (and answer.verifier_sentence_weight, the sentences' share).

Development script, not part of the package. The questions are those of the tune articles
that training/squad_pairs.py --heldout-by article held out (named in its stats file). A
verifier trained on every tune article scores their passages too kindly to choose anything on
(the second run: a bar chosen so declined 5.3% of the report split's answerable questions), so
--rows tune, the whole tune split, is for such a verifier only.

For each weight tried: recall@1 and answer_in_quote@1 on those questions, through eval's own
code, with the verifier reading the first verifier_pool passages; the weight with the best
answer_in_quote@1 is chosen (the smaller on a tie), then the sentence weight with it, the same
way. Then the bar: the 1st percentile of the verifier's probability for the quoted passage
over those questions whose quote holds the answer (as min_confidence is chosen), and the 1st
percentile of its probability over the held-out positive training pairs (documentation); the
lower of the two is the bar, so neither kind of answerable question loses more than 1% to it.

    .venv/bin/python eval/verifier_bar.py --weights 0 0.5 1 2 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.answer.compose import Answer, Answerer
from bot.answer.verify import MODEL_DIR, Verifier, load_verifier
from bot.app import make_embedder
from bot.evaluation.data import contains_answer, in_split, passages_as_documents, read_jsonl
from bot.evaluation.memo import cached_index
from bot.evaluation.run import metrics, question_encoding, run_eval
from bot.evaluation.withheld import asked_withheld
from bot.search.calibration import load_calibrated
from bot.search.retrieval import Hit

ROOT = Path(__file__).resolve().parent
SQUAD = ROOT.parent.parent / "shared" / "data" / "squad-dev"
PAIRS = ROOT.parent / "cache" / "training" / "docs_pairs.jsonl"
SQUAD_STATS = ROOT.parent / "cache" / "training" / "squad_pairs_stats.json"


def heldout_titles(stats: Path) -> set[str]:
    """The tune articles the verifier's training data held out whole (squad_pairs.py's stats)."""
    if not stats.exists():
        raise SystemExit(f"{stats} is missing: run training/squad_pairs.py --heldout-by article")
    data = json.loads(stats.read_text(encoding="utf-8"))
    if data.get("heldout_by") != "article" or not data.get("heldout_articles"):
        raise SystemExit(
            f"{stats}: the training pairs held out questions, not articles, so every tune passage"
            " was trained on; re-make them with --heldout-by article (or pass --rows tune)"
        )
    return set(data["heldout_articles"])


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


def decisions(
    answerer: Answerer, rows: list[dict], vecs: np.ndarray, tokens: list | None
) -> list[dict]:
    """Per question, what the decline decision reads: the confidence, and the verifier's
    probability for the quoted passage; for each question as asked ("answerable", with
    whether its quote holds the answer) and with its gold passages withheld ("withheld",
    kept where no quoted passage then holds the answer, as decline_check.py does)."""
    texts = [str(r["question"]) for r in rows]
    out: list[dict] = []

    def record(kind: str, answer: Answer, holds: bool) -> None:
        top = answer.results[0] if answer.results else None
        out.append(
            {
                "kind": kind,
                "confidence": answer.confidence,
                "verifier": None if top is None else top.verifier,
                "holds": holds,
            }
        )

    for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
        qt = tokens[i] if tokens is not None else None
        answer = answerer.ask(text, query_vector=vecs[i], query_tokens=qt)
        holds = bool(answer.results) and contains_answer(answer.results[0].quote, row["answers"])
        record("answerable", answer, holds)
    for answer in asked_withheld(answerer, rows, texts, vecs, tokens):
        record("withheld", answer, False)
    return out


def decline_curve(
    records: list[dict], docs: dict[str, list[float]], min_confidence: float, bars: list[float]
) -> list[dict]:
    """For each bar: the share of answerable questions declined (all, and those whose quote
    holds the answer), of withheld ones declined, and of held-out documentation pairs below it
    (positives: answers lost; corpus negatives: the best passage of the rest of the corpus)."""

    def declined(r: dict, bar: float) -> bool:
        p = r["verifier"]
        return r["confidence"] < min_confidence or (p is not None and p < bar)

    answerable = [r for r in records if r["kind"] == "answerable"]
    holding = [r for r in answerable if r["holds"]]
    withheld = [r for r in records if r["kind"] == "withheld"]
    curve = []
    for bar in bars:
        row = {
            "bar": bar,
            "answerable declined": float(np.mean([declined(r, bar) for r in answerable])),
            "holding declined": float(np.mean([declined(r, bar) for r in holding])),
            "withheld declined": float(np.mean([declined(r, bar) for r in withheld])),
        }
        for kind, probs in docs.items():
            row[f"docs {kind} below"] = float(np.mean(np.asarray(probs) < bar))
        curve.append(row)
    return curve


def docs_probabilities(verifier: MemoVerifier, limit: int) -> dict[str, list[float]]:
    """The verifier's probability over held-out documentation pairs, by kind (positive,
    corpus_negative, same_doc_negative)."""
    if not PAIRS.exists():
        return {}
    out: dict[str, list[float]] = {}
    rows = [r for r in read_jsonl(PAIRS) if r.get("split") == "heldout"][:limit]
    for r in rows:
        p = float(verifier.scores(r["question"], [r["passage"]])[0])
        out.setdefault(str(r["kind"]), []).append(p)
    return out


def main() -> None:
    """Print the figures per setting and the chosen weights and bar as one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path)
    ap.add_argument(
        "--model", type=Path, default=MODEL_DIR, help="a verifier folder (default: the shipped)"
    )
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--sentence-weights", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--docs-pairs", type=int, default=2000, help="held-out pairs read at most")
    ap.add_argument(
        "--rows",
        choices=("heldout", "tune"),
        default="heldout",
        help="the tune articles held out of training (default), or the whole tune split",
    )
    ap.add_argument(
        "--bars",
        type=float,
        nargs="*",
        default=[0.001, 0.003, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5],
        help="bars whose declines are printed (the chosen bar is always among them)",
    )
    ap.add_argument("--dump", type=Path, help="write each question's decision record here")
    args = ap.parse_args()
    settings = load_calibrated(args.config)
    verifier = load_verifier(args.model)
    if verifier is None:
        raise SystemExit("no verifier model to calibrate")
    memo = MemoVerifier(verifier)
    embedder = make_embedder(settings)
    docs = passages_as_documents(read_jsonl(SQUAD / "passages.jsonl"))
    index = cached_index(docs, embedder, settings, progress=True)
    rows = in_split(read_jsonl(SQUAD / "questions.jsonl"), index.documents, "tune")
    if args.rows == "heldout":
        titles = heldout_titles(SQUAD_STATS)
        title_of = {d.source: d.title for d in index.documents}
        rows = [r for r in rows if title_of.get(str(r["gold"][0])) in titles]
        print(json.dumps({"rows": "heldout", "articles": sorted(titles), "questions": len(rows)}))
    plain = Answerer(index, embedder, settings.retrieval, settings.answer)
    texts = [str(r["question"]) for r in rows]
    vecs, tokens = question_encoding(plain.retriever, texts, settings.cache_dir)
    search = plain.retriever.search
    found: dict[tuple[str, int | None], list[Hit]] = {}

    def memo_search(
        q: str,
        k: int | None = None,
        *,
        query_vector: np.ndarray | None = None,
        query_tokens: np.ndarray | None = None,
    ) -> list[Hit]:
        if (q, k) not in found:
            found[(q, k)] = search(q, k, query_vector=query_vector, query_tokens=query_tokens)
        return found[(q, k)]

    plain.retriever.search = memo_search  # type: ignore[method-assign,assignment]

    def answerer_at(weight: float, sentence: float) -> Answerer:
        """An Answerer with these verifier weights and no verifier bar, its own retriever."""
        answer = dataclasses.replace(
            settings.answer,
            verifier_weight=weight,
            verifier_sentence_weight=sentence,
            min_verifier=0.0,
        )
        return Answerer(index, embedder, settings.retrieval, answer, verifier=memo)

    def run(weight: float, sentence: float) -> list:
        answerer = answerer_at(weight, sentence)
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
    doc_probs = docs_probabilities(memo, args.docs_pairs)
    positives = doc_probs.get("positive")
    doc_bar = float(np.percentile(positives, 1)) if positives else None
    bar = min(b for b in (squad_bar, doc_bar) if b is not None)
    # Its own retriever, not the memo above: withheld passages must change what it finds.
    records = decisions(answerer_at(best, best_s), rows, vecs, tokens)
    if args.dump:
        args.dump.write_text(json.dumps({"records": records, "docs": doc_probs}) + "\n")
    bars = sorted({0.0, round(bar, 4), *args.bars})
    for row in decline_curve(records, doc_probs, settings.answer.min_confidence, bars):
        print(json.dumps({k: round(v, 4) for k, v in row.items()}), flush=True)
    print(
        json.dumps(
            {
                "verifier_weight": best,
                "verifier_sentence_weight": best_s,
                "min_verifier": round(bar, 4),
                "rows": args.rows,
                "squad_bar": round(squad_bar, 4),
                "docs_heldout_bar": None if doc_bar is None else round(doc_bar, 4),
                "figures": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
