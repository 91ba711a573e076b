"""Soft targets from an ensemble of verifiers, for training one model to read as they do.

Two verifiers trained on different data disagree where each is unsure, and the mean of their
logits declines better than either on the development sets (training/verifier_card.md,
eleventh session) but costs two models' size and time. This script scores every train row of
the pair files with each teacher (int8 ONNX exports, each pair alone, as the bot reads it)
and writes the rows again with "target", the sigmoid of the teachers' mean logit, and
"teachers", their logits; held-out rows are copied unchanged. train_verifier.py --soft then
trains on the targets instead of the labels (knowledge distillation, Hinton et al. 2015).

    .venv/bin/python training/distill_targets.py \\
        --teachers cache/verifier-r3.onnx cache/training/onnx-r8s20/model.onnx \\
        --out cache/training/distill   # ~10 min on the 2 cores
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
CACHE = ROOT / "cache" / "training"
PAIRS = [CACHE / f"{name}_pairs.jsonl" for name in ("squad", "docs", "natural")]
TOKENIZER = ROOT / "bot" / "models" / "verifier" / "tokenizer.json"

log = logging.getLogger("distill_targets")


def mean_target(logits: list[float]) -> float:
    """The ensemble's probability: the sigmoid of its members' mean logit."""
    return 1.0 / (1.0 + math.exp(-sum(logits) / len(logits)))


def with_targets(
    rows: list[dict[str, Any]], teacher_logits: list[list[float]]
) -> list[dict[str, Any]]:
    """The rows with "teachers" (one logit per teacher) and "target" on every train row;
    teacher_logits[t] holds teacher t's logits of the train rows, in order."""
    train = sum(1 for row in rows if row.get("split") == "train")
    if any(len(t) != train for t in teacher_logits):
        raise ValueError("each teacher needs one logit per train row")
    out: list[dict[str, Any]] = []
    k = 0
    for row in rows:
        if row.get("split") != "train":
            out.append(row)
            continue
        logits = [round(float(t[k]), 4) for t in teacher_logits]
        out.append({**row, "teachers": logits, "target": round(mean_target(logits), 6)})
        k += 1
    return out


def main() -> None:
    from export_verifier import OnnxVerifier

    from bot.evaluation.data import read_jsonl, write_jsonl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", type=Path, nargs="+", required=True, help="int8 exports")
    parser.add_argument("--pairs", type=Path, nargs="*", default=PAIRS)
    parser.add_argument("--out", type=Path, default=CACHE / "distill")
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    teachers = [OnnxVerifier(t, TOKENIZER, args.max_length) for t in args.teachers]
    for path in args.pairs:
        rows = read_jsonl(path)
        train = [(r["question"], r["passage"]) for r in rows if r.get("split") == "train"]
        t0 = time.time()
        scored = [[float(t.logits([pair])[0]) for pair in train] for t in teachers]
        out = with_targets(rows, scored)
        write_jsonl(args.out / path.name, out)
        log.info(
            "%s: %d train rows scored by %d teachers in %.0f s",
            path.name,
            len(train),
            len(teachers),
            time.time() - t0,
        )


if __name__ == "__main__":
    main()
