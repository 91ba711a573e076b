"""Check the decline calibration on every question set at once: SQuAD-dev's tune split and a
general off-topic set against SQuAD-dev, the seeds, and two documentation corpora
(eval/real_docs, and pip's own docs when --pip names a checkout's docs/html). Development
script, not part of the package.

For each setting tried (answer.<key>=<value>, several per line): the share of answerable
questions declined, and of unanswerable ones declined, per set; through `eval`'s own code.

    .venv/bin/python eval/decline_check.py --pip PIP/docs/html \\
        --try "" "unknown_term_penalty=0 answer_type_penalty=0"
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from bot.app import evaluate_files
from bot.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent
SQUAD = ROOT.parent.parent / "shared" / "data" / "squad-dev"


def sets(pip: Path | None) -> list[tuple[str, dict]]:
    """(name, evaluate_files keyword arguments) of each question set."""
    out = [
        (
            "squad tune",
            dict(
                passages=SQUAD / "passages.jsonl", questions=SQUAD / "questions.jsonl", split="tune"
            ),
        ),
        (
            "off-topic",
            dict(passages=SQUAD / "passages.jsonl", questions=ROOT / "offtopic_general.jsonl"),
        ),
        ("seeds", dict(passages=None, questions=ROOT / "seeds_questions.jsonl")),
        (
            "real_docs",
            dict(
                passages=None,
                docs=ROOT / "real_docs" / "corpus",
                questions=ROOT / "real_docs" / "questions.jsonl",
            ),
        ),
    ]
    if pip is not None:
        out.append(
            (
                "pip docs",
                dict(passages=None, docs=pip, questions=ROOT / "pip_docs" / "questions.jsonl"),
            )
        )
    return out


def with_answer(settings: Settings, spec: str) -> Settings:
    """settings with answer.<key>=<value> pairs of spec applied."""
    changes = {}
    for pair in spec.split():
        key, value = pair.split("=")
        changes[key] = float(value)
    return dataclasses.replace(settings, answer=dataclasses.replace(settings.answer, **changes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip", type=Path, help="pip's docs/html (a checkout of pypa/pip)")
    parser.add_argument("--try", dest="tries", nargs="*", default=[""], help="settings to try")
    args = parser.parse_args()
    base = load_settings(None)
    for spec in args.tries:
        settings = with_answer(base, spec)
        cells = []
        for name, kwargs in sets(args.pip):
            m = evaluate_files(settings, **kwargs)
            cell = f"{name}:"
            if "wrongly_declined" in m:
                cell += f" answerable declined {m['wrongly_declined']:.3f}"
            if "declined_unanswerable" in m:
                cell += f" unanswerable declined {m['declined_unanswerable']:.3f}"
            cells.append(cell)
        print(f"[{spec or 'defaults'}]\n  " + "\n  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
