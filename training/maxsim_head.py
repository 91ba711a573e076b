"""The comparison for the verifier: a small learned head over the late-interaction similarity
matrix of the bundled all-MiniLM-L6-v2 (token MaxSim), no fine-tuning of the model.

Per (question, passage) pair: the question's word pieces and the passage's tokens are embedded
by bot.search.embedder.SentenceTransformerEmbedder.embed_tokens (query=True keeps only the
question's words, as the bot's rerank does); for each question piece its best cosine over the
passage tokens (MaxSim). Features: mean (the bot's own token score), min, max, quartiles,
share >= 0.5 / 0.7 / 0.9, IDF-weighted mean and share >= 0.7 (word-piece document frequency over
the pair files' passages), the pooled-vector cosine, log passage tokens, log question pieces.
A logistic regression (standardised features, ~50 floats) is fitted on a seeded sample of
train rows and scored on every heldout row, beside the cross-encoder's heldout scores
(cache/training/verifier-ckpt/heldout_scores.jsonl, joined by pair key) when present.

    nice -n 15 .venv/bin/python training/maxsim_head.py --train-frac 0.3 --threads 1

Features are kept in cache/training/maxsim_features.jsonl by pair key, so a rerun (after the
docs pairs appear) embeds only new pairs. Writes cache/training/maxsim_head.json (weights and
figures).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

from train_verifier import (  # noqa: E402
    CACHE,
    DEFAULT_PAIRS,
    family,
    figures,
    pair_key,
    read_pairs,
    source_of,
)

SQUAD = ROOT.parent / "shared" / "data" / "squad-dev"

FEATURES = [
    "maxsim_mean",
    "maxsim_min",
    "maxsim_max",
    "maxsim_q25",
    "maxsim_q50",
    "maxsim_q75",
    "share_0.5",
    "share_0.7",
    "share_0.9",
    "idf_mean",
    "idf_share_0.7",
    "pooled_cosine",
    "log_passage_tokens",
    "log_question_pieces",
]
FEATURE_SETS = {
    "all": FEATURES,
    # Shipped: everything comes from vectors the bot already has (no word-piece statistics).
    "no_idf": [f for f in FEATURES if not f.startswith("idf")],
}
FEATURE_DOC = {
    "maxsim": "per question word piece (embed_tokens(query=True): no [CLS]/[SEP], no "
    "punctuation) its highest cosine over the passage's token vectors (all tokens)",
    "maxsim_mean/min/max/q25/q50/q75": "mean, min, max and quartiles (numpy.quantile, "
    "linear) of those MaxSim values",
    "share_0.5/0.7/0.9": "share of question pieces whose MaxSim >= 0.5 / 0.7 / 0.9",
    "idf_mean, idf_share_0.7": "the same, weighted by the pieces' smooth IDF "
    "log((1+N)/(1+df))+1 over passages (set 'all' only)",
    "pooled_cosine": "cosine of the question's and the passage's pooled (unit) vectors",
    "log_passage_tokens": "natural log of (passage token vectors + 1), [CLS]/[SEP] included",
    "log_question_pieces": "natural log of (question pieces + 1)",
    "logit": "sum(coef * (x - mean) / scale) + intercept over the listed features, in order",
}


def features_of(
    best: np.ndarray, idf: np.ndarray, pooled: float, passage_tokens: int
) -> list[float]:
    """The FEATURES of one pair from each question piece's MaxSim (best), its pieces' IDF,
    the pooled-vector cosine and the passage's token count."""
    n = best.shape[0]
    if n == 0:
        best = np.zeros(1, np.float32)
    w = idf if len(idf) == len(best) and n else np.ones(len(best), np.float32)
    w = w / max(float(w.sum()), 1e-9)
    return [
        float(best.mean()),
        float(best.min()),
        float(best.max()),
        float(np.quantile(best, 0.25)),
        float(np.quantile(best, 0.5)),
        float(np.quantile(best, 0.75)),
        float((best >= 0.5).mean()),
        float((best >= 0.7).mean()),
        float((best >= 0.9).mean()),
        float((w * best).sum()),
        float((w * (best >= 0.7)).sum()),
        pooled,
        math.log(passage_tokens + 1),
        math.log(n + 1),
    ]


def question_idf(
    emb: Any, questions: list[str], qt: list[np.ndarray], idf_of: dict[int, float]
) -> list[np.ndarray]:
    """Per question, the IDF of each kept word piece (aligned with its token vectors)."""
    from bot.search.embedder import question_pieces

    tok = emb.model.tokenizer
    enc = tok(
        questions, truncation=True, max_length=emb.max_tokens, return_special_tokens_mask=True
    )
    top = max(idf_of.values())
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        keep = question_pieces(tok.convert_ids_to_tokens(ids), enc["special_tokens_mask"][i])
        kept = [x for x, k in zip(ids, keep, strict=True) if k][: len(qt[i])]
        out.append(np.array([idf_of.get(x, top) for x in kept], np.float32))
    return out


def featurise(
    rows: list[dict[str, Any]], threads: int, idf_of: dict[int, float]
) -> dict[str, list[float]]:
    """Features of each row's pair, by pair key (texts embedded once each)."""
    import torch

    from bot.search.embedder import SentenceTransformerEmbedder

    torch.set_num_threads(threads)
    emb = SentenceTransformerEmbedder("", device="cpu")
    questions = sorted({str(r["question"]) for r in rows})
    passages = sorted({str(r["passage"]) for r in rows})
    t = time.time()
    qv, qt = emb.embed_tokens(questions, query=True)
    print(f"  {len(questions)} questions embedded in {time.time() - t:.0f}s", flush=True)
    t = time.time()
    pv, pt = emb.embed_tokens(passages)
    print(f"  {len(passages)} passages embedded in {time.time() - t:.0f}s", flush=True)
    q_idf = question_idf(emb, questions, qt, idf_of)
    q_at = {q: i for i, q in enumerate(questions)}
    p_at = {p: i for i, p in enumerate(passages)}
    out: dict[str, list[float]] = {}
    for r in rows:
        i, j = q_at[str(r["question"])], p_at[str(r["passage"])]
        q = qt[i].astype(np.float32)
        p = pt[j].astype(np.float32)
        best = (q @ p.T).max(axis=1) if q.shape[0] else np.zeros(0, np.float32)
        out[pair_key(r)] = features_of(best, q_idf[i], float(qv[i] @ pv[j]), p.shape[0])
    return out


def piece_idf(passages: list[str]) -> dict[int, float]:
    """Smooth IDF of each word-piece id over passages (tokenised as the model sees them)."""
    from bot.search.embedder import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder("")
    tok = emb.tokenizer
    tok.enable_truncation(emb.max_tokens)
    df: Counter[int] = Counter()
    for e in tok.encode_batch(passages):
        df.update(set(e.ids))
    n = len(passages)
    return {k: math.log((1 + n) / (1 + v)) + 1.0 for k, v in df.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, nargs="*", default=DEFAULT_PAIRS)
    parser.add_argument(
        "--train-frac", type=float, default=0.3, help="share of train rows (by pair-key hash)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--features", type=Path, default=CACHE / "maxsim_features.jsonl")
    parser.add_argument("--out", type=Path, default=CACHE / "maxsim_head.json")
    parser.add_argument("--ckpt", type=Path, default=CACHE / "verifier-ckpt")
    parser.add_argument(
        "--no-featurise", dest="featurise", action="store_false", help="cached features only"
    )
    parser.add_argument("--ship-set", choices=sorted(FEATURE_SETS), default="no_idf")
    parser.add_argument("--ship-to", type=Path, help="write maxsim_head.json into this folder")
    parser.add_argument(
        "--runtime-check", action="store_true", help="also score SQuAD heldout via its index"
    )
    args = parser.parse_args()

    rows = read_pairs(args.pairs)
    train = [r for r in rows if r.get("split") == "train"]
    heldout = [r for r in rows if r.get("split") == "heldout"]
    # A fixed sample: a row is in it by its own key's hash, whatever other rows exist.
    train = [r for r in train if int(pair_key(r)[:8], 16) % 1000 < 1000 * args.train_frac]
    need = train + heldout

    known: dict[str, list[float]] = {}
    if args.features.exists():
        for line in args.features.open(encoding="utf-8"):
            d = json.loads(line)
            known[d["key"]] = d["f"]
    missing = [r for r in need if pair_key(r) not in known]
    print(f"{len(need)} rows, {len(missing)} without features", flush=True)
    if missing and args.featurise:
        idf = piece_idf(sorted({str(r["passage"]) for r in rows}))
        fresh = featurise(missing, args.threads, idf)
        with args.features.open("a", encoding="utf-8") as fh:
            for k, f in fresh.items():
                fh.write(json.dumps({"key": k, "f": f}) + "\n")
        known.update(fresh)
    train = [r for r in train if pair_key(r) in known]
    heldout = [r for r in heldout if pair_key(r) in known]

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.preprocessing import StandardScaler

    col = {f: i for i, f in enumerate(FEATURES)}
    x_tr = np.array([known[pair_key(r)] for r in train], np.float64)
    y_tr = np.array([int(r["label"]) for r in train])
    g_tr = np.array([str(r["group"]) for r in train])
    x_ho = np.array([known[pair_key(r)] for r in heldout], np.float64)

    def fit(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        scaler = StandardScaler().fit(x)
        return scaler, LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), y)

    def auc_only(figs: dict[str, Any]) -> dict[str, Any]:
        # A raw score has no threshold of its own: its accuracy would mean nothing.
        return {k: {**v, "accuracy": None} for k, v in figs.items()}

    result: dict[str, Any] = {
        "train_rows": len(train),
        "train_by_source": dict(Counter(source_of(r) for r in train)),
        "heldout_rows": len(heldout),
        "shipped_set": args.ship_set,
        "sets": {},
        # The bot's own token score (mean MaxSim) alone, and the pooled cosine alone.
        "heldout_maxsim_mean_only": auc_only(figures(heldout, x_ho[:, 0].tolist())),
        "heldout_pooled_cosine_only": auc_only(figures(heldout, x_ho[:, 11].tolist())),
    }
    weights_of: dict[str, dict[str, Any]] = {}
    heads: dict[str, list[float]] = {}
    for name, feats in FEATURE_SETS.items():
        cols = [col[f] for f in feats]
        # The choice between feature sets is made on train rows (grouped by question), not
        # on the heldout rows.
        cv = np.zeros(len(y_tr))
        for a_, b_ in GroupKFold(5).split(x_tr, y_tr, g_tr):
            sc, cl = fit(x_tr[a_][:, cols], y_tr[a_])
            cv[b_] = cl.decision_function(sc.transform(x_tr[b_][:, cols]))
        scaler, clf = fit(x_tr[:, cols], y_tr)
        heads[name] = clf.decision_function(scaler.transform(x_ho[:, cols])).tolist()
        weights_of[name] = {
            "features": feats,
            "mean": scaler.mean_.round(6).tolist(),
            "scale": scaler.scale_.round(6).tolist(),
            "coef": clf.coef_[0].round(6).tolist(),
            "intercept": round(float(clf.intercept_[0]), 6),
        }
        result["sets"][name] = {
            "weights": weights_of[name],
            "cv_train": figures(train, cv.tolist()),
            "heldout": figures(heldout, heads[name]),
        }
    scores = args.ckpt / "heldout_scores.jsonl"
    if scores.exists():
        ce = {}
        for line in scores.open(encoding="utf-8"):
            d = json.loads(line)
            if "key" in d:
                ce[d["key"]] = d["logit"]
        both = [i for i, r in enumerate(heldout) if pair_key(r) in ce]
        if both:
            sub = [heldout[i] for i in both]
            result["same_rows_cross_encoder"] = figures(sub, [ce[pair_key(r)] for r in sub])
            result["same_rows_head"] = figures(sub, [heads[args.ship_set][i] for i in both])
    if args.runtime_check:
        idf = piece_idf(sorted({str(r["passage"]) for r in rows}))
        result["runtime_check"] = runtime_check(heldout, weights_of, idf)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=1))
    if args.ship_to is not None:
        ship = {
            "kind": "logistic regression over late-interaction (MaxSim) features",
            "output": "logit; P(passage answers question) = sigmoid(logit)",
            "model": "all-MiniLM-L6-v2 (the bundled embedder; token vectors as embed_tokens)",
            "feature_definitions": FEATURE_DOC,
            **weights_of[args.ship_set],
            "heldout": result["sets"][args.ship_set]["heldout"],
            "card": "training/verifier_card.md",
        }
        args.ship_to.mkdir(parents=True, exist_ok=True)
        (args.ship_to / "maxsim_head.json").write_text(json.dumps(ship, indent=1) + "\n")
        print(f"shipped {args.ship_to / 'maxsim_head.json'}")


def runtime_check(
    heldout: list[dict[str, Any]], weights_of: dict[str, dict[str, Any]], idf_of: dict[int, float]
) -> dict[str, Any]:
    """The heads on SQuAD's heldout passage pairs with features from what the bot has at run
    time: the cached SQuAD index's stored token vectors (quantised, title included, as the
    rerank reads them) and passage vectors, instead of a fresh embedding of the passage alone."""
    from bot.app import make_embedder
    from bot.evaluation.data import passages_as_documents, read_jsonl
    from bot.evaluation.memo import cached_index
    from bot.search.ann import range_rows
    from bot.search.calibration import load_calibrated
    from bot.search.quantize import packed_dots

    settings = load_calibrated(None)
    docs = passages_as_documents(read_jsonl(SQUAD / "passages.jsonl"))
    emb = make_embedder(settings)
    index = cached_index(docs, emb, settings, progress=False)
    at = {index.passage_text(i): i for i in range(len(index))}
    rows = [
        r
        for r in heldout
        if source_of(r) == "squad" and family(r.get("kind", "")) == "passage" and r["passage"] in at
    ]
    questions = sorted({str(r["question"]) for r in rows})
    qv, qt = emb.embed_tokens(questions, query=True)
    q_idf = question_idf(emb, questions, qt, idf_of)
    q_at = {q: i for i, q in enumerate(questions)}
    tv = index.tokens
    feats = []
    for r in rows:
        p, i = at[str(r["passage"])], q_at[str(r["question"])]
        got, _ = range_rows(tv.ranges[[p]])
        q = np.asarray(qt[i], np.float32) @ tv.rotation
        best = (
            np.asarray(packed_dots((tv.bits[got], tv.scales[got]), q)).max(axis=0)
            if q.shape[0]
            else np.zeros(0, np.float32)
        )
        pooled = float(np.asarray(index.passage_vectors[p], np.float32) @ qv[i])
        feats.append(features_of(best, q_idf[i], pooled, len(got)))
    x = np.array(feats)
    col = {f: i for i, f in enumerate(FEATURES)}
    out: dict[str, Any] = {"pairs": len(rows), "maxsim_mean_only": figures(rows, x[:, 0].tolist())}
    for name, w in weights_of.items():
        cols = [col[f] for f in w["features"]]
        z = (x[:, cols] - np.array(w["mean"])) / np.array(w["scale"])
        out[name] = figures(rows, (z @ np.array(w["coef"]) + w["intercept"]).tolist())
    return out


if __name__ == "__main__":
    main()
