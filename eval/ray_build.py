"""A local build against a build on Ray, same run: speed, and whether the indexes agree.

Writes SQuAD-dev's passages as files (as `bench --only index_build` does), starts one local Ray
instance (a cluster of this machine), then alternates full builds: `rebuild` with the model
already loaded, and `build_on_ray` (whose actors load the model each build, as they do on a
cluster). The last two indexes are compared: passages, sentences and BM25 files equal,
vectors within float16 tolerance, and the answers to SQuAD's questions; then the same for
the seeds folder and its questions (eval/seeds_questions.jsonl). Prints one JSON object.

    nice .venv/bin/python eval/ray_build.py --data ../shared/data/squad-dev --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bot.app import answer_from, make_embedder, rebuild
from bot.bench.data import passage_rows, questions, write_passage_files
from bot.bench.stats import summary
from bot.config import Settings, settings_from_dict
from bot.search import ray_build
from bot.search.ray_build import build_on_ray
from bot.search.store import Index

ROOT = Path(__file__).resolve().parent.parent


def compare(a: Index, b: Index, settings: Settings, asked: list[str]) -> dict[str, Any]:
    """How far index b (built on Ray) is from a (built here)."""
    bm25 = sorted(p.relative_to(a.folder) for p in a.folder.glob("bm25/**/*") if p.is_file())
    same_bm25 = all((a.folder / n).read_bytes() == (b.folder / n).read_bytes() for n in bm25)
    embedder = make_embedder(settings)
    answerers = [answer_from(i, embedder, settings).answerer for i in (a, b)]
    differ, quoted_differ, score_diff = [], [], 0.0
    for q in asked:
        x, y = (answerer.ask(q).to_json() for answerer in answerers)
        if x != y:
            differ.append(q)
        if _quoted(x) != _quoted(y):
            quoted_differ.append(q)
        else:
            pairs = zip(x["results"], y["results"], strict=True)
            score_diff = max([score_diff] + [abs(r["score"] - s["score"]) for r, s in pairs])
    same_tokens = len(a.tokens) == len(b.tokens)
    return {
        "documents_equal": [d.to_json() for d in a.documents] == [d.to_json() for d in b.documents],
        "passages_equal": bool(np.array_equal(a.passages.rows, b.passages.rows)),
        "sentences_equal": bool(np.array_equal(a.sentences.rows, b.sentences.rows)),
        "bm25_files_equal": same_bm25 and len(bm25) > 0,
        "passage_vectors_max_abs_diff": float(np.abs(a.passage_vectors - b.passage_vectors).max()),
        "sentence_vectors_max_abs_diff": float(
            np.abs(a.sentence_vectors - b.sentence_vectors).max()
        ),
        "token_ranges_equal": bool(np.array_equal(a.tokens.ranges, b.tokens.ranges)),
        "token_bits_equal_share": float(np.mean(a.tokens.bits == b.tokens.bits))
        if same_tokens
        else None,
        "questions": len(asked),
        "answers_differ": len(differ),
        "differing_examples": differ[:3],
        # Differing in anything but their scores: answered or not, sources, passages, quotes.
        "answers_quoting_otherwise": len(quoted_differ),
        "quoting_otherwise_examples": quoted_differ[:3],
        "score_max_abs_diff_where_quoted_alike": score_diff,
    }


def _quoted(answer: dict[str, Any]) -> list[Any]:
    """An `ask --json` answer without its scores."""
    return [answer["answered"]] + [
        {k: v for k, v in r.items() if k != "score"} for r in answer["results"]
    ]


def main() -> None:
    """Measure and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the SQuAD-dev folder")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--docs", type=int, default=None, help="only the first N passages")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    import ray

    # The workers import the package from this checkout, as the driver does.
    ray.init(
        num_cpus=args.cpus,
        logging_level="ERROR",
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_passage_files(passage_rows(args.data, args.docs), root / "seeds")
        base = settings_from_dict({"cache_dir": str(root / "cache")}, root)
        out = {"squad": run(base, root, args.repeats, questions(args.data, args.questions))}
        seeds = dataclasses.replace(base, seeds_dir=ROOT / "seeds")
        with (ROOT / "eval" / "seeds_questions.jsonl").open(encoding="utf-8") as fh:
            asked = [json.loads(line)["question"] for line in fh if line.strip()]
        out["seeds"] = run(seeds, root / "seeds-index", 1, asked)
    out["cpus"] = args.cpus
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


def run(base: Settings, root: Path, repeats: int, asked: list[str]) -> dict[str, Any]:
    """repeats pairs of full builds of base's seeds, alternating; the last pair compared."""
    here = dataclasses.replace(base, index_dir=root / "local")
    there = dataclasses.replace(base, index_dir=root / "ray")
    embedder = make_embedder(here)
    embedder.embed(["warm up"])  # model load is start-up, not throughput
    cluster: list[float] = []
    on_cluster = ray_build._on_cluster

    def timed_cluster(*a: Any, **k: Any) -> Any:
        t = time.perf_counter()
        try:
            return on_cluster(*a, **k)
        finally:
            cluster.append(time.perf_counter() - t)

    ray_build._on_cluster = timed_cluster  # type: ignore[assignment]
    local_s, ray_s, passages = [], [], 0
    load = [os.getloadavg()[0]]
    for _ in range(repeats):
        t = time.perf_counter()
        _, report = rebuild(here, embedder, full=True, progress=False)
        local_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        _, ray_report = build_on_ray(there, partial(make_embedder, there), progress=False)
        ray_s.append(time.perf_counter() - t)
        passages = report.embedded_passages
        assert ray_report.embedded_passages == passages
        load.append(os.getloadavg()[0])
    ray_build._on_cluster = on_cluster  # type: ignore[assignment]
    a, b = Index.load(here.index_dir), Index.load(there.index_dir)
    return {
        "documents": len(a.documents),
        "passages": passages,
        "sentences": len(a.sentences),
        "local_seconds": summary(local_s),
        "ray_seconds": summary(ray_s),
        "ray_on_cluster_seconds": summary(cluster),
        "local_passages_per_s": summary([passages / s for s in local_s]),
        "ray_passages_per_s": summary([passages / s for s in ray_s]),
        "ray_over_local_each": [a / b for a, b in zip(local_s, ray_s, strict=True)],
        "ray_over_local_median": statistics.median(local_s) / statistics.median(ray_s),
        "load_1min": load,
        "compare": compare(a, b, here, asked),
    }


if __name__ == "__main__":
    main()
