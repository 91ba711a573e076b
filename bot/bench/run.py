"""`python -m bot bench`: run the steps (or those named with --only) and print their figures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.bench.build import extraction, index_build
from bot.bench.data import questions, squad_dev
from bot.bench.late_interaction import late_interaction
from bot.bench.latency import cold_start, float16_recall, query_latency, search_alone, throughput
from bot.bench.memory import peak_rss
from bot.bench.process import index_process
from bot.bench.synthetic import query_encoder
from bot.bench.verifier import verifier_cost
from bot.config import Settings
from bot.errors import BotError

# The figures run_bench measures, in order (`bench --only NAME` runs one).
BENCH_STEPS = (
    "query_latency",
    "search_alone",
    "float16",
    "throughput",
    "memory",
    "cold_start",
    "index_build",
    "index_process",
    "late_interaction",
    "verifier",
)
# The steps that read no SQuAD-dev data (so need no --data).
WITHOUT_DATA = frozenset({"cold_start"})


def run_bench(
    settings: Settings,
    *,
    data: Path | None = None,
    as_json: bool = False,
    quick: bool = False,
    only: list[str] | None = None,
) -> int:
    """Measure everything (or the steps named in only) with the SQuAD-dev folder data; print
    a table or one JSON object."""
    unknown = sorted(set(only or ()) - set(BENCH_STEPS))
    if unknown:
        raise BotError(f"No bench step {unknown[0]!r}; the steps are {', '.join(BENCH_STEPS)}")
    # Checked before the first step, so a missing --data fails at once, not an hour in.
    squad = squad_dev(data) if only is None or set(only) - WITHOUT_DATA else None

    def need() -> Path:
        assert squad is not None  # checked above for every step that reads it
        return squad

    started = time.perf_counter()
    # The build figure needs no query encoder (nor a seeds index).
    build_only = only is not None and set(only) <= {"index_build", "index_process"}
    encoder = None if build_only else query_encoder(settings)
    qs = questions(squad, 40 if quick else 200) if squad is not None else []
    sizes = [1_000, 10_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    big = sizes[-1]
    results: dict[str, Any] = {"quick": quick, "machine": _machine()}

    def step(name: str, fn: Callable[[], Any]) -> None:
        if only is not None and name not in only:
            return
        t = time.perf_counter()
        results[name] = fn()
        if not as_json:
            print(
                f"{name} ({time.perf_counter() - t:.0f} s):\n{json.dumps(results[name], indent=1)}",
                flush=True,
            )

    # Rarely-changing heavy steps first so cached synthetic indexes exist for the rest.
    step("query_latency", lambda: query_latency(settings, encoder, need(), sizes, qs))
    step("search_alone", lambda: search_alone(settings, encoder, need(), big, qs))
    step("float16", lambda: float16_recall(settings, encoder, need(), 100_000, qs))
    step(
        "throughput",
        lambda: throughput(settings, encoder, need(), 10_000, qs[:40], 3 if quick else 5),
    )
    step("memory", lambda: peak_rss(settings, need(), big))
    step("cold_start", lambda: cold_start(settings, 3 if quick else 7))
    step(
        "index_build",
        lambda: index_build(settings, need(), 200 if quick else None, 2 if quick else 3),
    )
    step("index_process", lambda: index_process(settings, need(), 400, 3 if quick else 5))
    step(
        "late_interaction",
        lambda: late_interaction(
            settings, encoder, need(), [100_000] if quick else [100_000, 1_000_000], qs
        ),
    )
    step("verifier", lambda: verifier_cost(settings, encoder, need(), qs))
    step("extraction", lambda: extraction(need(), 5 if quick else 10, 20, 2 if quick else 3))
    results["total_s"] = time.perf_counter() - started
    if as_json:
        print(json.dumps(results))
    else:
        print(f"total {results['total_s']:.0f} s")
    return 0


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
