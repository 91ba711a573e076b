"""Peak resident memory of a fresh process that loads an index and answers 20 questions.

`python -m bot.bench.memory FOLDER DATA BACKEND APPROXIMATE_FROM` is that process: it prints
its peak resident size in KiB; peak_rss runs it once per backend.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.config import Settings


def peak_rss(
    settings: Settings,
    data: Path,
    n: int,
    folder: Path | None = None,
    *,
    backends: tuple[str, ...] = ("exact", "usearch"),
) -> dict[str, Any]:
    """Peak RSS of a fresh process that loads the n-passage index (the synthetic one of the
    other steps unless folder is given) and answers 20 questions of data."""
    if folder is None:
        folder = settings.cache_dir / "bench" / f"syn-{n}-{'p' if n >= 1_000_000 else 's'}"
    out: dict[str, Any] = {"passages": n}
    # "exact" must not switch to the graph at this size (approximate_from).
    for backend, switch in (("exact", 10**12), ("usearch", 1)):
        if backend not in backends:
            continue
        args = [str(folder), str(data), backend, str(switch)]
        done = subprocess.run(
            [sys.executable, "-m", "bot.bench.memory", *args],
            check=True,
            capture_output=True,
            text=True,
        )
        out[f"{backend}_peak_rss_mb"] = int(done.stdout.split()[-1]) / 1024
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Load the index, answer 20 questions, print the process's peak resident size (KiB)."""
    import resource

    from bot.answer.compose import Answerer
    from bot.bench.data import questions
    from bot.bench.synthetic import query_encoder
    from bot.config import RetrievalSettings, load_settings
    from bot.search.store import Index

    ap = argparse.ArgumentParser(prog="python -m bot.bench.memory")
    ap.add_argument("folder", type=Path, help="the index folder")
    ap.add_argument("data", type=Path, help="the SQuAD-dev folder the questions come from")
    ap.add_argument("backend", help="retrieval.backend")
    ap.add_argument("approximate_from", type=int, help="retrieval.approximate_from")
    args = ap.parse_args(argv)
    s = load_settings(None)
    r = RetrievalSettings(backend=args.backend, approximate_from=args.approximate_from)
    a = Answerer(Index.load(args.folder), query_encoder(s), r, s.answer)
    for q in questions(args.data, 20):
        a.ask(q)
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so this child of
    # a (large) bench process would report the parent's resident size at fork.
    try:
        with Path("/proc/self/status").open() as fh:
            print(next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")))
    except OSError:  # not Linux: no exec carry-over to avoid
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
