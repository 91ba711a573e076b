"""The development questions' candidate pools as pairs, for scoring verifiers without the bot.

eval/docs_dev_natural's question sets (seven projects' documentation, never in the natural
training questions; never reported) asked through the bot's own retrieval, as
natural_pairs.py asks the training questions: every passage of each question's pool
(the first verifier_pool distinct passages) with label 1 when it holds an answer string, and
every pool passage of an unanswerable question with label 0. A machine without the bot (the
GPU machine of training/sweep_verifier.py) can then score verifiers on them:
question_figures gives the AUC of "the best passage of the pool" between answerable questions
(their best answer-holding passage) and unanswerable ones (their best passage), the decision
to decline, and top1, how often the best-scored passage of an answerable question holds it.

    .venv/bin/python training/dev_pairs.py   # cache/training/dev_pairs.jsonl: ~11 min cold, 1 warm
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
SETS = [
    ROOT / "eval" / "docs_dev_natural" / name
    for name in ("questions.jsonl", "hard_unanswerable.jsonl", "training_projects.jsonl")
]
OUT = ROOT / "cache" / "training" / "dev_pairs.jsonl"

log = logging.getLogger("dev_pairs")


def question_figures(rows: list[dict[str, Any]], logits: list[float]) -> dict[str, Any]:
    """Per question (group): answerable when its pool holds a positive. AUC of the best
    positive's logit (answerable) against the best logit (unanswerable: no positive and asked
    as unanswerable), and top1 over the answerable ones. An answerable question with no
    positive row counts in neither: natural_pairs.pairs_of skips one whose answer is neither
    in the pool nor in a passage of its gold document. (Until the eleventh session pairs_of
    did not look up gold named as a list, as eval/docs_dev_natural names it, so the 30 of its
    140 answerable questions whose answer is beyond the pool were skipped: 2,170 pairs; now
    they have their gold passage, 2,500 pairs, and the AUCs are lower for it.)"""
    from sklearn.metrics import roc_auc_score

    best: dict[str, float] = {}
    best_pos: dict[str, float] = {}
    unanswerable: dict[str, bool] = {}
    for r, v in zip(rows, logits, strict=True):
        g = str(r["group"])
        best[g] = max(best.get(g, -1e9), v)
        if int(r["label"]):
            best_pos[g] = max(best_pos.get(g, -1e9), v)
        unanswerable[g] = str(r.get("kind")) == "natural_unanswered"
    answered = sorted(best_pos)
    declined = sorted(g for g, u in unanswerable.items() if u)
    y = [1] * len(answered) + [0] * len(declined)
    s = [best_pos[g] for g in answered] + [best[g] for g in declined]
    top1 = sum(best_pos[g] >= best[g] for g in answered) / max(1, len(answered))
    return {
        "answerable": len(answered),
        "unanswerable": len(declined),
        "auc": round(float(roc_auc_score(y, s)), 4) if answered and declined else None,
        "top1": round(top1, 4),
    }


def main() -> None:
    from natural_pairs import DOCS, project_pairs  # the bot's retrieval: here, not on the GPU

    from bot.evaluation.data import read_jsonl, write_jsonl
    from bot.search.calibration import load_calibrated

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", type=Path, nargs="*", default=SETS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load_calibrated(None)
    pool = max(settings.answer.verifier_pool, 1)
    out: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for path in args.sets:
        by_project: dict[str, list[dict[str, Any]]] = {}
        for r in read_jsonl(path):
            by_project.setdefault(str(r["project"]), []).append(r)
        for project, questions in sorted(by_project.items()):
            pairs, seen = project_pairs(settings, project, questions, pool, 0)
            out += [{**p, "split": "dev", "set": path.stem} for p in pairs]
            counts += seen
            log.info(
                "%s %s: %d questions, %d pairs", path.stem, project, len(questions), len(pairs)
            )
    write_jsonl(args.out, out)
    log.info("wrote %s: %d pairs, %s (DOCS %s)", args.out, len(out), dict(counts), DOCS)


if __name__ == "__main__":
    main()
