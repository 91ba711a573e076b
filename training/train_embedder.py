"""Fine-tune the embedding model itself: the bundled all-MiniLM-L6-v2 bi-encoder, trained on the
training pairs' questions and the passages that answer them. Tried in the fifteenth session and
not shipped (training/verifier_card.md, "the embedding model fine-tuned"); kept so the run can
be repeated and taken further.

Each question of a pair file's split == "train" rows with a positive passage gives one
triple (question, positive, hard negative): the hard negative is one of the same question's
negative passages (docs_pairs.jsonl's same_doc_negative, natural_pairs.jsonl's natural_negative,
squad_pairs.jsonl's hard_negative), drawn with the fixed seed, or none when it has no negative.
The loss is multiple-negatives ranking: each question against every positive and hard negative
of its batch, scaled cosines, cross-entropy on its own positive. A batch never holds the same
question or passage twice, so no positive stands as another question's negative (SQuAD asks
several questions of one paragraph). AdamW, linear warm-up over the first tenth, linear decay.

    nohup nice -n 5 .venv/bin/python training/train_embedder.py \\
        --out cache/training/embedder-ft > cache/training/train_embedder.log 2>&1 &

The result is a sentence-transformers folder; `model = "<that folder>"` in a config file makes
the bot embed with it (its decline bars then need calibrating: README, Configuration).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
CACHE = ROOT / "cache" / "training"
SEED = 13
# The kinds of row that give a triple's positive and its hard negative, in every pair file.
POSITIVE_KINDS = frozenset({"positive", "natural_positive"})
NEGATIVE_KINDS = frozenset({"same_doc_negative", "natural_negative", "hard_negative"})
DEFAULT_PAIRS = [
    CACHE / "docs_pairs.jsonl",
    CACHE / "natural_pairs.jsonl",
    CACHE / "squad_pairs.jsonl",
]

log = logging.getLogger("train_embedder")


class Triple(NamedTuple):
    question: str
    positive: str
    negative: str | None


def triples(rows: Sequence[dict[str, Any]], rng: random.Random) -> list[Triple]:
    """One triple per train positive, its negative drawn from the same question's negatives
    (same question text and group), in the rows' order."""
    positives: dict[tuple[str, str], list[str]] = defaultdict(list)
    negatives: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row.get("split") != "train":
            continue
        key = (str(row["question"]), str(row.get("group", "")))
        if row["kind"] in POSITIVE_KINDS:
            positives[key].append(str(row["passage"]))
        elif row["kind"] in NEGATIVE_KINDS:
            negatives[key].append(str(row["passage"]))
    out: list[Triple] = []
    for key, passages in positives.items():
        for passage in passages:
            pool = negatives.get(key)
            out.append(Triple(key[0], passage, rng.choice(pool) if pool else None))
    return out


def batches(items: Sequence[Triple], size: int, rng: random.Random) -> Iterator[list[Triple]]:
    """The triples shuffled into batches of `size` in which no question and no passage comes
    twice; a triple that would repeat one waits for a later batch. A last batch smaller than a
    quarter of `size` is left out (too few in-batch negatives to learn from)."""
    waiting = list(items)
    rng.shuffle(waiting)
    while waiting:
        batch: list[Triple] = []
        seen: set[str] = set()
        later: list[Triple] = []
        for item in waiting:
            texts = {item.question, item.positive} | ({item.negative} if item.negative else set())
            if len(batch) == size or texts & seen:
                later.append(item)
                continue
            batch.append(item)
            seen |= texts
        if len(batch) < max(2, size // 4):
            return
        yield batch
        waiting = later


def ranking_loss(questions: Any, passages: Any, scale: float = 20.0) -> Any:
    """Multiple-negatives ranking loss: question i's positive is passage i; every other passage
    (positives of other questions, then the hard negatives) is a negative. Unit vectors in."""
    import torch

    scores = questions @ passages.T * scale
    return torch.nn.functional.cross_entropy(scores, torch.arange(len(questions)))


def train(args: argparse.Namespace) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from train_verifier import bundled_model, optimizer_step, read_pairs

    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    items = triples(read_pairs(args.pairs), rng)
    log.info("%d triples, %d with a hard negative", len(items), sum(1 for t in items if t.negative))
    model = SentenceTransformer(str(bundled_model()), device=args.device)
    model.max_seq_length = args.max_tokens
    total = int(len(items) // args.batch * args.epochs)
    warm = max(1, total // 10)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / total)
    )

    def encode(texts: list[str]) -> Any:
        features = {
            k: v.to(args.device) if isinstance(v, torch.Tensor) else v
            for k, v in model.preprocess(texts).items()
        }
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    model.train()
    step, started = 0, time.monotonic()
    while step < total:
        for batch in batches(items, args.batch, rng):
            if step >= total:
                break
            passages = [t.positive for t in batch] + [t.negative for t in batch if t.negative]
            loss = ranking_loss(encode([t.question for t in batch]), encode(passages))
            optimizer_step(model, loss, opt, sched)
            step += 1
            if step % 10 == 0:
                elapsed = time.monotonic() - started
                log.info("step %d/%d loss %.3f %.0f s", step, total, loss.item(), elapsed)
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.save(str(args.out))
    meta = {
        "seed": args.seed,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch": args.batch,
        "max_tokens": args.max_tokens,
        "steps": step,
        "triples": len(items),
        "pairs": [str(p) for p in args.pairs],
        "seconds": round(time.monotonic() - started),
    }
    (args.out / "train_meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    log.info("saved %s: %s", args.out, meta)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, nargs="+", default=DEFAULT_PAIRS)
    parser.add_argument("--out", type=Path, default=CACHE / "embedder-ft")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(args)


if __name__ == "__main__":
    main()
