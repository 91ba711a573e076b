"""A gaps log to try `python -m bot gaps` on: the questions of the given files that the bot
declines, and, standing in for readers' 👎 votes, those it answers although the file marks them
unanswerable. Development script, not part of the package.

    .venv/bin/python eval/gaps_demo.py --out /tmp/gaps.jsonl \
        eval/offtopic_general.jsonl eval/unanswered_seeds.jsonl
    # then, with discord.gaps_file = "/tmp/gaps.jsonl" in a config file:
    .venv/bin/python -m bot gaps --config that.toml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.answer.gaps import DECLINED, DOWNVOTE, GapsLog
from bot.app import make_embedder, open_index
from bot.evaluation.data import read_jsonl
from bot.search.calibration import load_calibrated


def main() -> None:
    """Answer every question and log the declined and the wrongly answered ones."""
    ap = argparse.ArgumentParser()
    ap.add_argument("questions", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--config", type=Path)
    args = ap.parse_args()
    settings = load_calibrated(args.config)
    answerer = open_index(settings, make_embedder(settings), update=True)[0].answerer
    log = GapsLog(args.out)
    for path in args.questions:
        declined = voted = 0
        for row in read_jsonl(path):
            answer = answerer.ask(str(row["question"]))
            if not answer.answered:
                log.append(answer.question, DECLINED)
                declined += 1
            elif not row.get("answerable", True):
                log.append(answer.question, DOWNVOTE, answer.results[0].source)
                voted += 1
        print(f"{path}: {declined} declined, {voted} answered though unanswerable (as 👎)")


if __name__ == "__main__":
    main()
