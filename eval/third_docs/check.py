"""Check eval/third_docs/questions.jsonl against the corpus as the bot reads it (see README.md).

Does not run the bot's search or answering: it only reads the documents with the bot's own
readers (``read_document``) and looks for strings in their extracted text.

- every row has the fields question, gold, answers, format (and answerable: false on the
  unanswerable ones), and format is one of md, rst, html, txt;
- every answerable row's gold files exist, lie in the folder of its format (or, when it lists
  several gold files, at least the first does), and each answer string occurs in the
  extracted text of at least one gold file, and each gold file holds at least one answer
  (case-, quote-mark- and whitespace-insensitive, as the evaluation matches answers);
- every unanswerable row's key terms (chosen by hand, below) occur nowhere in the corpus;
- the counts per format.

    .venv/bin/python eval/third_docs/check.py        # exit status 1 on any failure
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from bot.evaluation.data import normalise_answer  # noqa: E402
from bot.ingest.corpus import read_document  # noqa: E402

CORPUS = HERE / "corpus"
QUESTIONS = HERE / "questions.jsonl"
FORMATS = {"md", "rst", "html", "txt"}

# Key terms of each unanswerable question that a document answering it would have to name,
# chosen by hand after reading the documents; checked absent from the whole corpus (the
# questions' topics themselves do occur). OFF_TOPIC: the same for the off-topic questions.
ABSENT_TERMS: dict[str, list[str]] = {
    "Does bat support syntax highlighting for COBOL?": ["cobol"],
    "Can bat show git blame annotations next to each line?": ["git blame", "annotat"],
    "Can bat render Markdown as formatted rich text instead of highlighted source?": [
        "rich text",
        "render markdown",
        "rendered markdown",
    ],
    "Does bat show Nerd Font file-type icons in its file header?": ["nerd font", "icons"],
    "Can ripgrep print its matches as CSV?": ["csv", "comma-separated values"],
    "Which ripgrep release first added the --pre preprocessor flag?": [
        "--pre was added",
        "added --pre",
        "since ripgrep",
    ],
    "How fast is ripgrep on a Raspberry Pi compared with GNU grep?": ["raspberry"],
    "Who designed the ripgrep logo?": ["logo"],
    "How much RAM does fzf use when filtering ten million lines?": [
        "ten million",
        "10 million",
        "ram usage",
        "memory usage of fzf",
    ],
    "What key binding in fzf opens the selected file in VS Code?": [
        "vs code",
        "visual studio code",
        "code {}",
    ],
    "How do I change how many lines fzf scrolls per mouse wheel step?": [
        "scroll speed",
        "lines per",
        "mouse wheel",
    ],
    "How do I use fzf inside the Helix editor?": ["helix"],
    "Which Neovim version is the minimum for fzf's Vim plugin?": [
        "neovim 0.",
        "nvim 0.",
        "neovim version",
    ],
    "Can restic write its backups directly to a tape drive?": ["tape"],
    "How do I unlock a restic repository with a YubiKey instead of a password?": [
        "yubikey",
        "hardware key",
        "security key",
        "fido",
    ],
    "What is the largest single file restic can back up?": [
        "largest file",
        "maximum file size",
        "file size limit",
    ],
    "Which Linux kernel version does restic mount require?": [
        "kernel version",
        "linux 5.",
        "linux 4.",
    ],
    "Does restic support S3 Object Lock for immutable backups?": ["object lock", "immutab"],
    "How many snapshots can one restic repository hold at most?": [
        "maximum number of snapshots",
        "snapshot limit",
        "snapshots at most",
    ],
    "How much does a commercial support contract for restic cost?": [
        "commercial",
        "support contract",
        "price",
        "pricing",
    ],
}
OFF_TOPIC: dict[str, list[str]] = {
    "What is the capital of Peru?": ["peru", "lima"],
    "Who wrote Pride and Prejudice?": ["pride and prejudice", "austen"],
    "How many players are on the field for one soccer team?": ["soccer", "football"],
    "What temperature does water boil at on Mount Everest?": ["everest", "boil"],
    "How do I bake sourdough bread?": ["sourdough", "bread"],
}


def main() -> int:
    texts = {}
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        doc = read_document(path, seeds_dir=CORPUS)
        texts[doc.source] = normalise_answer(doc.text)
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line]
    problems: list[str] = []
    counts: Counter[tuple[str, str]] = Counter()
    seen: set[str] = set()
    for i, row in enumerate(rows, 1):
        q = row.get("question", "")
        where = f"line {i} ({q!r})"
        if q in seen:
            problems.append(f"{where}: duplicate question")
        seen.add(q)
        answerable = row.get("answerable", True)
        allowed = {"question", "gold", "answers", "format"} | (
            set() if answerable else {"answerable"}
        )
        if set(row) - allowed or not {"question", "gold", "answers", "format"} <= set(row):
            problems.append(f"{where}: fields {sorted(row)}")
        if row.get("format") not in FORMATS:
            problems.append(f"{where}: format {row.get('format')!r}")
        if answerable is not True and answerable is not False:
            problems.append(f"{where}: answerable must be false when given")
        if not answerable:
            terms = ABSENT_TERMS.get(q) or OFF_TOPIC.get(q)
            kind = "off-topic" if q in OFF_TOPIC else "unanswerable"
            counts[(kind, row["format"])] += 1
            if row["gold"] or row["answers"]:
                problems.append(f"{where}: unanswerable row with gold or answers")
            if not terms:
                problems.append(f"{where}: no key terms listed in ABSENT_TERMS or OFF_TOPIC")
                continue
            for term in terms:
                hits = [s for s, t in texts.items() if normalise_answer(term) in t]
                if hits:
                    problems.append(f"{where}: key term {term!r} occurs in {hits}")
            continue
        counts[("answerable", row["format"])] += 1
        gold, answers = row["gold"], row["answers"]
        if not gold or not answers:
            problems.append(f"{where}: answerable row needs gold and answers")
            continue
        missing = [g for g in gold if g not in texts]
        if missing:
            problems.append(f"{where}: gold not in corpus: {missing}")
            continue
        if not gold[0].startswith(row["format"] + "/"):
            problems.append(f"{where}: first gold {gold[0]} is not in {row['format']}/")
        for ans in answers:
            if not any(normalise_answer(ans) in texts[g] for g in gold):
                problems.append(f"{where}: answer {ans!r} not in any gold file's extracted text")
        for g in gold:
            if not any(normalise_answer(ans) in texts[g] for ans in answers):
                problems.append(f"{where}: gold {g} holds none of the answers")
        others = sorted(
            s
            for s, t in texts.items()
            if s not in gold and any(normalise_answer(a) in t for a in answers)
        )
        if others:
            print(f"note: {where}: an answer also occurs in {others}")
    print(f"{len(texts)} documents, {len(rows)} questions")
    for kind in ("answerable", "unanswerable", "off-topic"):
        per = {f: counts[(kind, f)] for f in sorted(FORMATS) if counts[(kind, f)]}
        print(f"  {kind}: {sum(per.values())} {per}")
    for p in problems:
        print("FAIL", p)
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
