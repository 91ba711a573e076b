"""Issue 13's GPU figure: a full index build with `device = "auto"` against a bare encode of
the same passages on the same device, in one run, on a borrowed GPU machine.

The device machine (the session's `device` tool) has torch, transformers and
sentence-transformers but not this package's other build dependencies, not the bundled model
and no network, and 64 MiB travel. So:

1. `pack` (here): wheels of the missing build dependencies for its Python (3.12), the bundled
   model with its weights as fp16 (45 MB; widened back to fp32 there, a relative 5e-4), and
   SQuAD-dev's passages, into gpubuild/ (git-ignored).
2. `run` (there): installs the wheels, widens the weights, then `bot.bench.build.index_build`
   (full builds of the passages as files, each followed by a bare `encode` of the same texts,
   and a one-file re-index) and one more full build under cProfile. Prints and writes JSON.

    .venv/bin/python eval/gpu_build.py pack
    mv bot/models/verifier/model.onnx /tmp/   # the tracked int8 verifier stays behind (64 MiB)
    # device.run (carry gpubuild): python3 eval/gpu_build.py run --out $OUT
    mv /tmp/model.onnx bot/models/verifier/
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "gpubuild"
# The build's imports that the device image lacks (found by listing sys.modules after a small
# build here, against the image's package list in the device tool's KINDS.md).
WHEELS = ["PyStemmer==3.1.0", "bm25s==0.3.16", "orjson==3.13.0", "sentencex==1.0.32"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64"]
PLATFORMS += ["manylinux2014_x86_64", "manylinux1_x86_64"]


def pack(data: Path, to: Path) -> None:
    """Wheels, the bundled model (fp16 weights) and data/passages.jsonl into `to`."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    from bot.search.embedder import resolve_model

    (to / "wheels").mkdir(parents=True, exist_ok=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    target = ["--python-version", "3.12", "--implementation", "cp", *platforms]
    subprocess.run([*download, *target, "-d", str(to / "wheels"), *WHEELS], check=True)
    model = Path(resolve_model("")[1])
    shutil.copytree(
        model, to / "model", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.safetensors")
    )
    weights = load_file(str(model / "model.safetensors"))
    half = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()}
    save_file(half, str(to / "model16.st"))
    (to / "squad-dev").mkdir(exist_ok=True)
    shutil.copy(data / "passages.jsonl", to / "squad-dev" / "passages.jsonl")
    size = sum(p.stat().st_size for p in to.rglob("*") if p.is_file())
    print(f"packed {to}: {size / 1e6:.1f} MB")


def unfold(src: Path, wheels: bool = True) -> Path:
    """There: the wheels installed into /tmp/site (on sys.path), the model folder with fp32
    weights under /tmp/model."""
    import numpy as np

    if wheels:
        site = Path("/tmp/site")
        files = [str(p) for p in sorted((src / "wheels").glob("*.whl"))]
        install = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
        quiet = ["--no-compile", "--no-cache-dir", "--target", str(site)]
        subprocess.run([*install, *quiet, *files], check=True)
        sys.path.insert(0, str(site))
    from safetensors.numpy import load_file, save_file

    model = Path("/tmp/model")
    shutil.copytree(src / "model", model, dirs_exist_ok=True)
    weights = load_file(str(src / "model16.st"))
    full = {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in weights.items()}
    save_file(full, str(model / "model.safetensors"))
    return model


def run(
    src: Path, out: Path, docs: int | None, repeats: int, wheels: bool = True
) -> dict[str, Any]:
    """index_build with device "auto" and the packed model, then one profiled full build."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if str(ROOT) not in sys.path:  # there the package is the working tree, not installed
        sys.path.insert(0, str(ROOT))
    t0 = time.time()
    model = unfold(src, wheels)
    import torch

    from bot.app import make_embedder, rebuild
    from bot.bench.build import index_build
    from bot.bench.data import passage_rows, write_passage_files
    from bot.search.calibration import load_calibrated

    data = src / "squad-dev"
    base = load_calibrated(None, warn=False)
    s = dataclasses.replace(base, model=str(model), device="auto", cache_dir=Path("/tmp/qb-cache"))
    result = index_build(s, data, docs, repeats)
    result["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    result["torch"] = torch.__version__
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_passage_files(passage_rows(data, docs), root / "seeds")
        p = dataclasses.replace(s, seeds_dir=root / "seeds", index_dir=root / "index")
        embedder = make_embedder(p)
        embedder.embed(["warm up"])
        profile = cProfile.Profile()
        start = time.perf_counter()
        profile.enable()
        rebuild(p, embedder, full=True, progress=False)
        profile.disable()
        result["profiled_build_s"] = round(time.perf_counter() - start, 2)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(40)
        result["profile_top"] = text.getvalue()[-9000:]
    result["wall_s"] = round(time.time() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_build.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "squad-dev")
    p.add_argument("--to", type=Path, default=PACK)
    p = sub.add_parser("run")
    p.add_argument("--from", dest="src", type=Path, default=PACK)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--docs", type=int, help="the first N passages (default: all 1,545)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--installed", action="store_true", help="the dependencies are installed: no wheels"
    )
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.data, args.to)
        return
    result = run(args.src, args.out, args.docs, args.repeats, not args.installed)
    profile = result.pop("profile_top")
    print(json.dumps(result, indent=1))
    print(profile)


if __name__ == "__main__":
    main()
