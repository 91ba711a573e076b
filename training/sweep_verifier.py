"""Train several verifier recipes at once on a borrowed GPU machine, and bring them back.

A GPU machine (the session's `device` tool) has torch and transformers but not this
package, not the bundled model and no network, and only 64 MiB travel each way. So:

1. `pack` (here): the bundled all-MiniLM-L6-v2 weights as fp16 (45 MB; they are widened back
   to fp32 there, so training starts from the bundled weights to within fp16 rounding, a
   relative 5e-4), and the pair files gzipped, into a folder that `device.run` carries.
2. `run` (there): each recipe of RECIPES is a train_verifier.py process on the GPU (bf16
   autocast), all at once; then students (--distil: one model trained on several recipes'
   mean logit, DISTIL); then soups (uniform weight averages of several of them: one
   model, same size and cost); then every model scores the held-out training pairs and
   training/dev_pairs.py's development pools. Ranked by RANK_RULE, the best come back as
   their difference from the starting weights, int8 per row (15-20 MB each, in parts), with every
   model's figures in sweep.json.
3. `unpack` (here): the bundled fp32 weights plus a difference is a checkpoint folder for
   export_verifier.py --ckpt (its int8 export is what the bot would ship).

    .venv/bin/python training/sweep_verifier.py pack --to gpu
    # device.run: python3 training/sweep_verifier.py run --from gpu --out $OUT  (carry gpu)
    cat /work/.device/N/seeds3.npz.* > cache/training/seeds3.npz
    .venv/bin/python training/sweep_verifier.py unpack cache/training/seeds3.npz \\
        --out cache/training/verifier-ckpt-seeds3
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / "cache" / "training"
PAIRS = ["squad_pairs.jsonl", "docs_pairs.jsonl", "natural_pairs.jsonl"]
DEV = "dev_pairs.jsonl"
# Packed when present: the documentation pairs before a re-mining, for recipes marked
# --old-docs (the same recipe on both, one run: what the new pairs change).
OLD_DOCS = "docs_pairs_old.jsonl"
BASE_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
BASE_FILES += ["special_tokens_map.json"]

# The third run's recipe (shipped) and the eighth's (natural questions twice), full length.
COMMON = ["--epochs", "1.8", "--lr", "5e-5", "--freeze-layers", "0", "--docs-repeat", "2"]
RECIPES: dict[str, list[str]] = {
    "r8s19": ["--natural-repeat", "2", "--seed", "19"],
    "r8s20": ["--natural-repeat", "2", "--seed", "20"],
    "r8s21": ["--natural-repeat", "2", "--seed", "21"],
    "r3s19": ["--no-natural", "--seed", "19"],
    "r8e3": ["--natural-repeat", "2", "--seed", "19", "--epochs", "3"],
    "n4s19": ["--natural-repeat", "4", "--seed", "19"],
    "r8s20old": ["--natural-repeat", "2", "--seed", "20", "--old-docs"],
}
SOUPS: dict[str, list[str]] = {
    "seeds3": ["r8s19", "r8s20", "r8s21"],
    "mix4": ["r8s19", "r8s20", "r8s21", "r3s19"],
}
# Students (the eleventh session's run 10, on a GPU): the mean logit of the teachers (trained
# recipes of this run) on every train row is its target (distill_targets.with_targets), and the
# student starts from the base teacher's weights: one pass, lr 2e-5, no dropout, --soft.
DISTIL: dict[str, tuple[list[str], str]] = {
    "kd4": (["r3s19", "r8s19", "r8s20", "r8s21"], "r8s20"),
    "kd2": (["r3s19", "r8s20"], "r8s20"),
}
STUDENT = ["--epochs", "1", "--lr", "2e-5", "--head-lr", "2e-5", "--dropout", "0", "--soft"]
STUDENT += ["--freeze-layers", "0", "--seed", "19"]
RANK_RULE = "mean of dev AUC, SQuAD held-out passage AUC, documentation held-out AUC"

log = logging.getLogger("sweep_verifier")


def pack(to: Path) -> None:
    """The bundled weights as fp16 and the pair files gzipped, into `to`."""
    from safetensors.numpy import load_file, save_file
    from train_verifier import bundled_model

    base = bundled_model()
    (to / "base").mkdir(parents=True, exist_ok=True)
    weights = load_file(str(base / "model.safetensors"))
    save_file({k: v.astype(np.float16) for k, v in weights.items()}, str(to / "base16.st"))
    for name in BASE_FILES:
        shutil.copy(base / name, to / "base" / name)
    for name in [*PAIRS, DEV, OLD_DOCS]:
        src = CACHE / name
        if name == OLD_DOCS and not src.exists():
            continue
        if not src.exists():
            raise SystemExit(f"{src} is missing (training/README.md says how to make it)")
        with src.open("rb") as fh, gzip.open(to / f"{name}.gz", "wb", compresslevel=9) as out:
            shutil.copyfileobj(fh, out)
    size = sum(p.stat().st_size for p in to.rglob("*") if p.is_file())
    log.info("packed %s: %.1f MB", to, size / 1e6)


def unfold(src: Path, work: Path) -> Path:
    """On the GPU machine: the fp32 base folder and the plain pair files under work."""
    from safetensors.numpy import load_file, save_file

    base = work / "base"
    shutil.copytree(src / "base", base, dirs_exist_ok=True)
    weights = load_file(str(src / "base16.st"))
    save_file(
        {k: v.astype(np.float32) for k, v in weights.items()}, str(base / "model.safetensors")
    )
    for name in [*PAIRS, DEV, OLD_DOCS]:
        if name == OLD_DOCS and not (src / f"{name}.gz").exists():
            continue
        with gzip.open(src / f"{name}.gz", "rb") as fh, (work / name).open("wb") as out:
            shutil.copyfileobj(fh, out)
    return base


def state(model: Any) -> dict[str, np.ndarray]:
    """The float tensors of a model's state, as fp32 NumPy arrays of their own (a CPU
    tensor's .numpy() shares its memory: loading another state into the model would change
    them)."""
    return {
        k: v.detach().float().cpu().numpy().copy()
        for k, v in model.state_dict().items()
        if v.is_floating_point()
    }


def quantise_delta(trained: dict[str, np.ndarray], start: dict[str, np.ndarray]) -> dict:
    """trained - start, matrices as int8 per row with a float32 scale per row, vectors as
    float32; tensors start lacks (the new head) whole. An embedding row that no batch touched
    moved by AdamW's weight decay alone, the same factor c for every such row: c is sent once
    and such rows as zeros (most of the 30,522 word pieces: the file shrinks by about half)."""
    out: dict[str, np.ndarray] = {}
    for k, v in trained.items():
        if k not in start or k.startswith("classifier."):
            out[f"full/{k}"] = v.astype(np.float32)
            continue
        d = v - start[k]
        if d.ndim == 2:
            if "embeddings" in k:
                w = start[k].astype(np.float64)
                ratio = (d * w).sum(axis=1) / np.maximum((w * w).sum(axis=1), 1e-30)
                c = float(np.median(ratio))
                d = d - (c * w).astype(np.float32)
                d[np.abs(d).max(axis=1) < 1e-6] = 0.0
                out[f"c/{k}"] = np.array(c, np.float64)
            scale = np.abs(d).max(axis=1, keepdims=True) / 127.0
            scale[scale == 0] = 1.0
            out[f"q/{k}"] = np.round(d / scale).astype(np.int8)
            out[f"s/{k}"] = scale.astype(np.float32)
        else:
            out[f"d/{k}"] = d.astype(np.float32)
    return out


def apply_delta(start: dict[str, np.ndarray], packed: Any) -> dict[str, np.ndarray]:
    """quantise_delta undone onto start: the trained weights, to within the int8 rounding."""
    out = dict(start)
    for name in packed.files:
        kind, key = name.split("/", 1)
        if kind == "full":
            out[key] = packed[name]
        elif kind == "d":
            out[key] = start[key] + packed[name]
        elif kind == "q":
            decay = float(packed[f"c/{key}"]) if f"c/{key}" in packed.files else 0.0
            moved = packed[name].astype(np.float32) * packed[f"s/{key}"]
            out[key] = start[key] + (decay * start[key]).astype(np.float32) + moved
    return out


def figures_of(
    model: Any, tokenizer: Any, heldout: list[dict], dev: list[dict], device: Any
) -> dict[str, Any]:
    """Held-out figures (train_verifier.figures) and the development pools' (dev_pairs)."""
    from dev_pairs import question_figures
    from train_verifier import figures, score

    out: dict[str, Any] = {}
    logits = score(model, tokenizer, heldout, 256, size=64, device=device)
    out["heldout"] = figures(heldout, logits)
    logits = score(model, tokenizer, dev, 256, size=64, device=device)
    out["dev"] = question_figures(dev, logits)
    for name in sorted({str(r["set"]) for r in dev}):
        idx = [i for i, r in enumerate(dev) if r["set"] == name]
        out[f"dev/{name}"] = question_figures([dev[i] for i in idx], [logits[i] for i in idx])
    return out


def rank_value(fig: dict[str, Any]) -> float:
    """RANK_RULE: the mean of three AUCs (a missing one counts 0)."""
    parts = [
        fig["dev"].get("auc"),
        fig["heldout"].get("squad/passage", {}).get("auc"),
        fig["heldout"].get("docs", {}).get("auc"),
    ]
    return float(np.mean([p or 0.0 for p in parts]))


def train_all(
    runs: dict[str, tuple[list[str], list[Path], Path]],
    work: Path,
    device: str,
    minutes: float,
    limit: int,
) -> list[str]:
    """Each run (train_verifier.py arguments, pair files, start folder) as its own process,
    all at once, into work/<name>; the names of those that failed."""
    procs = {}
    for name, (extra, pairs, start) in runs.items():
        cmd = [sys.executable, str(HERE / "train_verifier.py"), *extra]
        cmd += ["--pairs", *map(str, pairs), "--out", str(work / name), "--base", str(start)]
        cmd += ["--device", device, "--minutes", str(minutes), "--log-every", "200"]
        cmd += ["--threads", "2"] + (["--limit", str(limit), "--eval-limit", "50"] if limit else [])
        logf = (work / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
        log.info("started %s: %s", name, " ".join(cmd[2:]))
    failed = []
    for name, p in procs.items():
        if p.wait() != 0:
            failed.append(name)
            log.error("%s failed:\n%s", name, (work / f"{name}.log").read_text()[-3000:])
    return failed


def soft_targets(
    work: Path,
    teachers: list[Path],
    device: Any,
    name: str,
    limit: int = 0,
    read: dict[Path, dict[str, list[float]]] | None = None,
) -> Path:
    """The pair files again, each train row with the teachers' mean-logit probability as
    "target" (distill_targets.with_targets), in work/targets-<name>/; with limit (a smoke
    run), only each file's first `limit` rows. read keeps each teacher's logits by pair file,
    so a teacher shared by several students scores the rows once."""
    from distill_targets import with_targets
    from train_verifier import load_model, score

    folder = work / f"targets-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for p in PAIRS:  # plain JSON lines: the GPU machine has no bot dependencies
        with (work / p).open(encoding="utf-8") as fh:
            files[p] = [json.loads(line) for line in fh if line.strip()]
        files[p] = files[p][:limit] if limit else files[p]
    train = {p: [r for r in rows if r.get("split") == "train"] for p, rows in files.items()}
    read = {} if read is None else read
    for teacher in teachers:
        if teacher not in read:
            tokenizer, model = load_model(6, teacher)
            model.to(device)
            read[teacher] = {
                p: score(model, tokenizer, train[p], 256, size=128, device=device) for p in PAIRS
            }
            del model
    for p, rows in files.items():
        with (folder / p).open("w", encoding="utf-8") as out:
            for row in with_targets(rows, [read[t][p] for t in teachers]):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    count = sum(map(len, train.values()))
    log.info("%s: targets of %d train rows from %d teachers", name, count, len(teachers))
    return folder


def run(
    src: Path,
    out: Path,
    minutes: float,
    limit: int,
    recipes: list[str],
    send: list[str],
    distil: list[str],
) -> None:
    """Train the recipes at once, make the soups, score everything, and write back the
    models named in send (else the best by RANK_RULE) while they fit."""
    import torch
    from train_verifier import load_model, read_pairs

    t0 = time.time()
    work = Path(os.environ.get("SWEEP_WORK", "/tmp/sweep"))
    work.mkdir(parents=True, exist_ok=True)
    base = unfold(src, work)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    runs: dict[str, tuple[list[str], list[Path], Path]] = {}
    for name in recipes:
        extra = list(RECIPES[name])
        pairs = [work / p for p in PAIRS]
        if "--no-natural" in extra:
            extra.remove("--no-natural")
            pairs = [p for p in pairs if p.name != "natural_pairs.jsonl"]
        if "--old-docs" in extra:
            extra.remove("--old-docs")
            pairs = [work / OLD_DOCS if p.name == "docs_pairs.jsonl" else p for p in pairs]
        runs[name] = ([*COMMON, *extra], pairs, base)
    failed = train_all(runs, work, device.type, minutes, limit)
    trained = [n for n in recipes if n not in failed]
    log.info("trained %s in %.1f min", trained, (time.time() - t0) / 60)

    rows = read_pairs([work / p for p in PAIRS])
    heldout = [r for r in rows if r.get("split") == "heldout"]
    dev = read_pairs([work / DEV])
    if limit:
        heldout, dev = heldout[:300], dev[:300]
    tokenizer, model = load_model(6, base)
    students = {}
    read: dict[Path, dict[str, list[float]]] = {}  # teachers' logits, shared by students
    for name in distil:
        teachers, start_from = DISTIL[name]
        if not set(teachers) <= set(trained) or start_from not in trained:
            log.error("%s: a teacher failed, no student", name)
            failed.append(name)
            continue
        folder = soft_targets(work, [work / t for t in teachers], device, name, limit, read)
        pairs = [folder / p for p in PAIRS]
        students[name] = (list(STUDENT), pairs, work / start_from)
    failed += train_all(students, work, device.type, minutes, limit)
    trained += [n for n in students if n not in failed]
    log.info("students %s; %.1f min", list(students), (time.time() - t0) / 60)
    start = state(model)
    states = {}
    for name in trained:
        _, m = load_model(6, work / name)
        states[name] = state(m)
    for name, members in SOUPS.items():
        if all(m in states for m in members):
            states[name] = {k: np.mean([states[m][k] for m in members], axis=0) for k in start}
    results: dict[str, Any] = {}
    for name, weights in states.items():
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
        model.to(device)
        fig = figures_of(model, tokenizer, heldout, dev, device)
        meta_path = work / name / "train_meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        meta.pop("lr_scales", None)
        results[name] = {"rank_value": round(rank_value(fig), 4), **fig, "train": meta}
        log.info("%s: rank %.4f dev %s", name, results[name]["rank_value"], fig["dev"])
    order = sorted(results, key=lambda n: -results[n]["rank_value"])
    out.mkdir(parents=True, exist_ok=True)
    sent: list[str] = []
    # $OUT brings back 8 files of at most 16 MiB, 64 MiB in all: sweep.json, logs.txt and
    # six parts of 15.5 MiB (a model's difference is 15-20 MB: two parts).
    budget, files, part = 60e6, 6, int(15.5 * 2**20)
    for name in [n for n in send if n in states] or order:
        path = work / f"{name}.npz"
        np.savez_compressed(path, **quantise_delta(states[name], start))
        data = path.read_bytes()
        parts = [data[lo : lo + part] for lo in range(0, len(data), part)]
        if len(data) > budget or len(parts) > files:
            log.info("%s: %.1f MB, no room left to send it", name, len(data) / 1e6)
            continue
        for k, chunk in enumerate(parts):
            (out / f"{name}.npz.{k}").write_bytes(chunk)
        budget, files = budget - len(data), files - len(parts)
        sent.append(name)
    summary = {
        "rank_rule": RANK_RULE,
        "order": order,
        "sent": sent,
        "failed": failed,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "minutes": round((time.time() - t0) / 60, 2),
        "models": results,
    }
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    logs = "".join(f"== {n}\n" + (work / f"{n}.log").read_text()[-4000:] for n in recipes)
    (out / "logs.txt").write_text(logs)
    log.info("sent %s; order %s; %.1f min", sent, order, (time.time() - t0) / 60)


def unpack(packed: Path, out: Path, sweep: Path | None) -> None:
    """The bundled fp32 weights plus a sent difference, saved as a checkpoint folder, with a
    train_meta.json for export_verifier.py: the run's own (a recipe) or the soup's members,
    and the figures sweep.json has for the model (named by the file's stem)."""
    import torch
    from train_verifier import bundled_model, load_model

    tokenizer, model = load_model(6, bundled_model())
    weights = apply_delta(state(model), np.load(packed))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=False)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    name = packed.name.split(".")[0]
    found = json.loads(sweep.read_text())["models"].get(name, {}) if sweep else {}
    meta = dict(found.get("train") or {"args": {"max_length": 256, "layers": 6}})
    meta.update({"sweep_model": name, "soup_of": SOUPS.get(name), "unpacked_from": str(packed)})
    if name in DISTIL:
        meta["distilled_from"] = {"teachers": DISTIL[name][0], "started_from": DISTIL[name][1]}
    meta["sweep_figures"] = {k: v for k, v in found.items() if k != "train"}
    (out / "train_meta.json").write_text(json.dumps(meta, indent=1))
    log.info("wrote %s", out)


def main() -> None:
    sys.path.insert(0, str(HERE))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--to", type=Path, default=ROOT / "gpu")
    p = sub.add_parser("run")
    p.add_argument("--from", dest="src", type=Path, default=ROOT / "gpu")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--minutes", type=float, default=6.0, help="each recipe's time budget")
    p.add_argument("--limit", type=int, default=0, help="first N train rows (smoke)")
    p.add_argument("--recipes", nargs="*", default=list(RECIPES))
    p.add_argument("--send", nargs="*", default=[], help="models to send back, in this order")
    p.add_argument("--distil", nargs="*", default=[], help="students of DISTIL to train")
    p = sub.add_parser("unpack")
    p.add_argument("packed", type=Path)
    p.add_argument("--sweep", type=Path, help="the run's sweep.json (figures, recipe)")
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.command == "pack":
        pack(args.to)
    elif args.command == "run":
        run(args.src, args.out, args.minutes, args.limit, args.recipes, args.send, args.distil)
    else:
        unpack(args.packed, args.out, args.sweep)


if __name__ == "__main__":
    main()
