"""Train a reader for the marking, and replay the marking with it: an extractive
question-answering head on the bundled all-MiniLM-L6-v2 that reads a question with the sentences
that may be marked (the passage's, joined) and says where in them the answer starts and ends.
The bot would never write its output, only mark the sentence it points into. Tried in the
thirteenth session and not kept (training/verifier_card.md): alone it marks fewer answers than
the shipped scores, and added to them it gains on one development set and loses on others.

Data (reproducible from files this repository makes):
- SQuAD-dev's tune split (never the report split), less the two tune articles
  training/squad_pairs.py holds out (eval/verifier_bar.py's development questions): question,
  gold passage, the answer's first occurrence in it.
- The training split's natural questions (training/natural_questions.jsonl) as
  eval/marking_replay.py dumps them: the top passage's markable sentences, joined, with the
  answer string's place in them, for the questions whose markable sentences hold one.
Nothing from the development sets' projects, heldout-projects.txt or a reported set.

    .venv/bin/python eval/marking_replay.py dump --docs cache/training/docs \\
        training/natural_questions.jsonl cache/replay13/train_natural.jsonl
    .venv/bin/python training/train_reader.py --out cache/training/reader   # 20 min, 2 cores
    .venv/bin/python eval/marking_replay.py dump ...   # each development set (its docstring)
    .venv/bin/python training/train_reader.py --replay cache/training/reader \
        cache/replay13/dev13.jsonl cache/replay13/pdf.jsonl ...
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bot.evaluation.data import read_jsonl, split_of  # noqa: E402

SQUAD = ROOT.parent / "shared" / "data" / "squad-dev"
STATS = ROOT / "cache" / "training" / "squad_pairs_stats.json"
NATURAL = ROOT / "cache" / "replay13" / "train_natural.jsonl"
MAX_LENGTH = 256
STRIDE = 96

log = logging.getLogger("train_reader")


def find(context: str, answers: Sequence[str]) -> tuple[int, str] | None:
    """The first place in context of one of the answers (exact, then ignoring case and
    runs of white space): its start and the text found there."""
    for a in answers:
        if a and (i := context.find(a)) >= 0:
            return i, a
    for a in answers:
        words = a.split()
        if not words:
            continue
        pattern = r"\s+".join(re.escape(w) for w in words)
        if m := re.search(pattern, context, re.IGNORECASE):
            return m.start(), m.group(0)
    return None


def squad_examples(heldout_articles: set[str]) -> list[dict[str, Any]]:
    """SQuAD-dev tune questions with their gold passage, less the held-out articles."""
    passages = {p["id"]: p for p in read_jsonl(SQUAD / "passages.jsonl")}
    out = []
    for q in read_jsonl(SQUAD / "questions.jsonl"):
        p = passages[q["gold"][0]]
        if split_of(p["title"]) != "tune" or p["title"] in heldout_articles:
            continue
        if (hit := find(p["text"], q["answers"])) is not None:
            out.append(
                {"question": q["question"], "context": p["text"], "start": hit[0], "answer": hit[1]}
            )
    return out


def natural_examples(dump: Path) -> list[dict[str, Any]]:
    """The dumped natural questions whose markable sentences hold an answer: the sentences
    joined by a space as the context."""
    out = []
    for r in read_jsonl(dump):
        context = " ".join(r["texts"])
        if (hit := find(context, r["answers"])) is not None:
            out.append(
                {"question": r["question"], "context": context, "start": hit[0], "answer": hit[1]}
            )
    return out


def features(tokenizer: Any, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Tokenised windows of each (question, context) with the answer's token start and end
    (0, 0: the window does not hold it: the [CLS] token)."""
    enc = tokenizer(
        [r["question"] for r in rows],
        [r["context"] for r in rows],
        truncation="only_second",
        max_length=MAX_LENGTH,
        stride=STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    starts, ends = [], []
    for i, offsets in enumerate(enc["offset_mapping"]):
        row = rows[enc["overflow_to_sample_mapping"][i]]
        a, b = row["start"], row["start"] + len(row["answer"])
        seq = enc.sequence_ids(i)
        s = e = 0
        toks = [k for k, sid in enumerate(seq) if sid == 1]
        if toks and offsets[toks[0]][0] <= a and offsets[toks[-1]][1] >= b:
            s = next(k for k in toks if offsets[k][1] > a)
            e = max(k for k in toks if offsets[k][0] < b)
        starts.append(s)
        ends.append(e)
    return {
        "input_ids": np.array(enc["input_ids"]),
        "attention_mask": np.array(enc["attention_mask"]),
        "token_type_ids": np.array(enc["token_type_ids"]),
        "start_positions": np.array(starts),
        "end_positions": np.array(ends),
    }


def sentence_logits(
    tokenizer: Any, model: Any, question: str, texts: list[str], max_span: int = 40
) -> np.ndarray:
    """Per sentence, the best start + end logit of a span of at most max_span tokens inside
    it, the sentences read joined by a space in overlapping windows (-inf: none reaches it)."""
    import torch

    bounds, at = [], 0
    for t in texts:
        bounds.append((at, at + len(t)))
        at += len(t) + 1
    enc = tokenizer(
        question,
        " ".join(texts),
        truncation="only_second",
        max_length=MAX_LENGTH,
        stride=STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=True,
        return_tensors="pt",
    )
    offsets = enc.pop("offset_mapping").numpy()
    enc.pop("overflow_to_sample_mapping")
    with torch.no_grad():
        out = model(**enc)
    starts, ends = out.start_logits.numpy(), out.end_logits.numpy()
    best = np.full(len(texts), -np.inf)
    for w in range(len(starts)):
        seq = enc.sequence_ids(w)
        for k, (a, b) in enumerate(bounds):
            toks = [
                i
                for i, sid in enumerate(seq)
                if sid == 1 and a <= offsets[w][i][0] < offsets[w][i][1] <= b
            ]
            if toks:
                pairs = starts[w][toks][:, None] + ends[w][toks][None, :]
                n = len(toks)
                band = np.triu(np.ones((n, n), bool)) & ~np.triu(np.ones((n, n), bool), max_span)
                best[k] = max(best[k], float(pairs[band].max()))
    return best


def replay(ckpt: Path, dumps: list[Path], weights: Sequence[float]) -> None:
    """Questions whose marked sentences hold an answer, per dump (eval/marking_replay.py's),
    marking by the shipped scores, by the reader alone, and by the shipped scores plus each
    weight times the reader's softmax share over the markable sentences."""
    import torch
    from marking_replay import holds, shipped  # eval/ (added to the path below)
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModelForQuestionAnswering.from_pretrained(ckpt).eval()

    def share(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        f = np.isfinite(x)
        if f.any():
            z = np.exp(x[f] - x[f].max())
            out[f] = z / z.sum()
        return out

    for dump in dumps:
        rows = read_jsonl(dump)
        reads = [
            np.where(
                np.isfinite(shipped(r)),
                sentence_logits(tokenizer, model, r["question"], r["texts"]),
                -np.inf,
            )
            for r in rows
        ]
        counts = {"shipped": sum(holds(r, shipped) for r in rows)}
        counts["reader alone"] = sum(
            holds(r, lambda _r, x=x: x) for r, x in zip(rows, reads, strict=True)
        )
        for w in weights:
            counts[f"shipped + {w} x reader"] = sum(
                holds(r, lambda r, x=x, w=w: shipped(r) + w * share(x))
                for r, x in zip(rows, reads, strict=True)
            )
        counts["ceiling"] = sum(any(r["label"]) for r in rows)
        print(json.dumps({"dump": dump.name, "questions": len(rows), **counts}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "cache" / "training" / "reader")
    ap.add_argument("--natural", type=Path, default=NATURAL)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--natural-repeat", type=int, default=2)
    ap.add_argument("--replay", type=Path, help="a trained reader: replay the marking with it")
    ap.add_argument("dumps", type=Path, nargs="*", help="with --replay: marking_replay dumps")
    ap.add_argument("--weights", type=float, nargs="*", default=[0.25, 0.5, 1.0, 2.0, 4.0])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.replay:
        sys.path.insert(0, str(ROOT / "eval"))
        replay(args.replay, args.dumps, args.weights)
        return 0
    import torch
    from train_verifier import bundled_model, optimizer_step
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)
    heldout = set(json.loads(STATS.read_text())["heldout_articles"])
    squad = squad_examples(heldout)
    natural = natural_examples(args.natural)
    log.info(
        "examples: SQuAD tune %d, natural %d (x%d)", len(squad), len(natural), args.natural_repeat
    )
    rows = squad + natural * args.natural_repeat
    base = bundled_model()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    model.to(args.device)
    data = features(tokenizer, rows)
    n = len(data["input_ids"])
    steps = int(np.ceil(n / args.batch) * args.epochs)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, s / max(1, 0.06 * steps)) * max(0.0, 1 - s / steps)
    )
    log.info("%d windows, %d steps", n, steps)
    model.train()
    t0, step = time.time(), 0
    rng = np.random.default_rng(args.seed)
    while step < steps:
        order = rng.permutation(n)  # each pass in its own order
        for lo in range(0, n, args.batch):
            if step >= steps:
                break
            idx = order[lo : lo + args.batch]
            batch = {k: torch.from_numpy(v[idx]).to(args.device) for k, v in data.items()}
            loss = model(**batch).loss
            optimizer_step(model, loss, opt, sched)
            step += 1
            if step % 50 == 0:
                log.info(
                    "step %d/%d loss %.4f %.1f min",
                    step,
                    steps,
                    loss.item(),
                    (time.time() - t0) / 60,
                )
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    meta = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "squad_examples": len(squad),
        "natural_examples": len(natural),
        "windows": n,
        "steps": steps,
        "minutes": round((time.time() - t0) / 60, 2),
        "heldout_articles": sorted(heldout),
    }
    (args.out / "train_meta.json").write_text(json.dumps(meta, indent=1))
    log.info("saved %s in %.1f min", args.out, meta["minutes"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
