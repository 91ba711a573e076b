"""How long after a file is saved does the answer reflect it? (watch mode, the real model)

Opens the index of a config's seeds_dir as the REPL does (bot.live), watches the folder with the
default watch settings, then per run appends one new sentence to a document (or adds a new
file), saves it, and times until a question about that sentence is answered with it. The file
is restored at the end. Run on a copy of your corpus: it edits files in seeds_dir.

    nice .venv/bin/python eval/live_latency.py --config /tmp/x/config.toml --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

from bot.live import LiveIndex, open_live
from bot.search.calibration import load_calibrated


def settle(live: LiveIndex, since: int, timeout: float = 600) -> None:
    """Wait until the update the last save asks for (the one after `since` updates) has run,
    then take it (an update that finds nothing to do returns nothing to take)."""
    live.wait_idle(timeout, updates=since + 1)
    live.adopt_update()


def main() -> None:
    """Measure and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", choices=("change", "add"), default="change")
    args = parser.parse_args()
    settings = load_calibrated(args.config)
    live, stale = open_live(settings)
    if stale:
        raise SystemExit(f"index is stale, run `python -m bot index` first: {stale[:3]}")
    target = max(sorted(settings.seeds_dir.rglob("*.txt")), key=lambda p: p.stat().st_size)
    original = target.read_bytes()
    live.start(watch=True)
    if not live.watching.wait(30):
        raise SystemExit("the watcher did not start")
    latencies, update_seconds, passages = [], [], []
    try:
        for run in range(args.runs + 1):  # run 0 loads the passage model: reported apart
            word = f"Quokkaville{run}x{int(time.time()) % 10000}"
            fact = f"The mascot of the {word} lighthouse is a purple walrus named Bartholomew{run}."
            question = f"What is the mascot of the {word} lighthouse?"
            path = target if args.mode == "change" else settings.seeds_dir / f"live-{word}.txt"
            text = (
                path.read_text(encoding="utf-8") + f"\n\n{fact}\n"
                if args.mode == "change"
                else f"{word}\n\n{fact}\n"
            )
            path.write_text(text, encoding="utf-8")
            saved = time.perf_counter()
            while True:
                update = live.adopt_update()
                if update is not None:
                    if update.loaded is None:
                        raise SystemExit(update.message)
                    answer = live.current.answerer.ask(question, 1)
                    if answer.answered and f"Bartholomew{run}" in answer.results[0].quote:
                        break
                if time.perf_counter() - saved > 600:
                    raise SystemExit(f"run {run}: the answer did not reflect the save in 600 s")
                threading.Event().wait(0.02)
            took = time.perf_counter() - saved
            print(f"run {run}: {took:.2f} s ({update.message})", flush=True)
            if run:
                latencies.append(took)
                update_seconds.append(update.seconds)
                passages.append(update.passages)
            else:
                cold = took
            if args.mode == "add":
                since = live.updates
                path.unlink()
                settle(live, since)
    finally:
        if target.read_bytes() != original:
            since = live.updates
            target.write_bytes(original)
            settle(live, since)
        live.close()
    print(
        json.dumps(
            {
                "documents": len(live.current.index.documents),
                "passages": len(live.current.index),
                "mode": args.mode,
                "file": target.name if args.mode == "change" else "(new file)",
                "first_with_model_load_s": round(cold, 2),
                "save_to_answer_s": [round(x, 2) for x in latencies],
                "median_save_to_answer_s": round(statistics.median(latencies), 2),
                "median_update_s": round(statistics.median(update_seconds), 2),
                "passages_embedded": passages,
            }
        )
    )


if __name__ == "__main__":
    main()
