"""Check the decline calibration on every question set at once: SQuAD-dev's tune split and a
general off-topic set against SQuAD-dev, the seeds, and two documentation corpora
(eval/real_docs, and pip's own docs when --pip names a checkout's docs/html). Development
script, not part of the package.

For each setting tried (answer.<key>=<value>, several per line): the share of answerable
questions declined, and of unanswerable ones declined, per set; through `eval`'s own code.

"squad withheld" asks each tune question with its gold passage taken out of retrieval (every
score of it masked before fusion, so nothing is scaled by it), keeping the questions whose
answer is then in no quoted passage: unanswerable questions about the corpus's own topics,
as in SQuAD 2.0, the kind a documentation corpus meets ("Who wrote pip?").

    .venv/bin/python eval/decline_check.py --pip PIP/docs/html \\
        --try "" "unknown_term_penalty=0 answer_type_penalty=0"
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from bot.answer.compose import Answerer
from bot.answer.verify import load_verifier
from bot.answer.wording import clean_question
from bot.app import make_embedder
from bot.config import Settings
from bot.evaluation.data import in_split, passages_as_documents, read_jsonl
from bot.evaluation.memo import cached_index
from bot.evaluation.run import evaluate_files, question_encoding
from bot.evaluation.withheld import asked_withheld
from bot.search.calibration import load_calibrated

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


def withheld(settings: Settings) -> dict[str, float]:
    """Declines on the tune split with each question's gold passage withheld (the same
    questions as asked are the "squad tune" set)."""
    docs = passages_as_documents(read_jsonl(SQUAD / "passages.jsonl"))
    embedder = make_embedder(settings)
    index = cached_index(docs, embedder, settings, progress=False)
    verifier = load_verifier() if settings.answer.verifier else None
    answerer = Answerer(index, embedder, settings.retrieval, settings.answer, verifier=verifier)
    rows = in_split(read_jsonl(SQUAD / "questions.jsonl"), index.documents, "tune")
    texts = [clean_question(str(r["question"]), 1000) for r in rows]
    vectors, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    kept = [a.answered for a in asked_withheld(answerer, rows, texts, vectors, tokens)]
    return {
        "unanswerable declined": float(np.mean([not a for a in kept])),
        "unanswerable questions": len(kept),
    }


def with_answer(settings: Settings, spec: str) -> Settings:
    """settings with <key>=<value> pairs of spec applied: answer.<key> for a bare key, or
    <section>.<key> ("chunking.embed_sections=false"); each value read as the type of the
    key's default ("false" and "0" are a false bool, "10" an int)."""
    changes: dict[str, dict[str, object]] = {}
    for pair in spec.split():
        key, value = pair.split("=")
        section, _, name = key.rpartition(".")
        section = section or "answer"
        default = getattr(getattr(settings, section), name)
        if isinstance(default, bool):
            changes.setdefault(section, {})[name] = value.lower() in ("1", "true", "yes")
        else:
            changes.setdefault(section, {})[name] = type(default)(value)
    parts = {
        section: dataclasses.replace(getattr(settings, section), **values)
        for section, values in changes.items()
    }
    return dataclasses.replace(settings, **parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip", type=Path, help="pip's docs/html (a checkout of pypa/pip)")
    parser.add_argument("--try", dest="tries", nargs="*", default=[""], help="settings to try")
    args = parser.parse_args()
    base = load_calibrated(None)
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
        w = withheld(settings)
        cells.append(
            f"squad withheld: unanswerable declined {w['unanswerable declined']:.3f} "
            f"({w['unanswerable questions']} questions)"
        )
        print(f"[{spec or 'defaults'}]\n  " + "\n  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
