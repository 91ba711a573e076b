"""Write follow-up question pairs from SQuAD-dev: a full question as the context, and another
question about the same passage rewritten as a follow-up to it, its topic replaced by a pronoun
("Where was Super Bowl 50 played?" -> "Where was it played?") or cut to an ellipsis ("Which team
represented the NFC?" after "...the AFC?" -> "And the NFC?"). Development script, not part of the
package; eval/followups/README.md says how the report set was then read through.

    .venv/bin/python eval/followups/make.py --split tune --out eval/followups/tune.jsonl
    .venv/bin/python eval/followups/make.py --split report --per-article 11 \
        --review eval/followups/review.json --out eval/followups/report.jsonl

Each line: id (the rewritten question's SQuAD id), context (the earlier question, asked in
full), question (the follow-up), full (the rewritten question as SQuAD asks it), kind
("pronoun" or "ellipsis"), gold and answers (the rewritten question's).
"""

from __future__ import annotations

import argparse
import json
import re
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from bot.evaluation.data import read_jsonl, split_of

ROOT = Path(__file__).resolve().parent
SQUAD = ROOT.parent.parent.parent / "shared" / "data" / "squad-dev"


@dataclass(frozen=True)
class Topic:
    """How an article's subject is named in its questions, and the pronouns that stand for it:
    subject, object, possessive; place says "in X" may become "there"."""

    names: tuple[str, ...]
    pronouns: tuple[str, str, str] = ("it", "it", "its")
    place: bool = False


HE = ("he", "him", "his")
THEY = ("they", "them", "their")

# Each article's subject as its questions name it, longest form first (the pattern tries them
# in this order). Written by reading the questions' titles, before any run of the bot.
TOPICS: dict[str, list[Topic]] = {
    # report split
    "Super Bowl 50": [Topic(("Super Bowl 50", "Super Bowl L", "the Super Bowl"))],
    "Warsaw": [Topic(("Warsaw",), place=True)],
    "Normans": [Topic(("the Normans", "Normans"), THEY), Topic(("Normandy",), place=True)],
    "Nikola Tesla": [Topic(("Nikola Tesla", "Tesla"), HE)],
    "Computational complexity theory": [
        Topic(("computational complexity theory", "complexity theory"))
    ],
    "Teacher": [Topic(("teachers",), THEY)],
    "Martin Luther": [Topic(("Martin Luther", "Luther"), HE)],
    "Huguenot": [Topic(("the Huguenots", "Huguenots"), THEY)],
    "Steam engine": [Topic(("steam engines",), THEY), Topic(("the steam engine",))],
    "1973 oil crisis": [Topic(("the 1973 oil crisis", "the oil crisis", "the crisis"))],
    "European Union law": [Topic(("European Union law", "EU law"))],
    "Amazon rainforest": [Topic(("the Amazon rainforest", "the rainforest", "the Amazon"))],
    "Ctenophora": [Topic(("ctenophores", "Ctenophora"), THEY)],
    "Fresno, California": [Topic(("Fresno",), place=True)],
    "Black Death": [Topic(("the Black Death",))],
    "Geology": [Topic(("geologists",), THEY)],
    "American Broadcasting Company": [
        Topic(("the American Broadcasting Company", "American Broadcasting Company", "ABC"))
    ],
    "Genghis Khan": [Topic(("Genghis Khan", "Temüjin", "Genghis"), HE)],
    "Pharmacy": [Topic(("pharmacists",), THEY)],
    "Immune system": [Topic(("the immune system",))],
    "Construction": [Topic(("the construction industry",))],
    "Private school": [Topic(("private schools",), THEY)],
    "Harvard University": [Topic(("Harvard University", "Harvard"))],
    "Jacksonville, Florida": [Topic(("Jacksonville",), place=True)],
    "Doctor Who": [Topic(("Doctor Who",))],
    "University of Chicago": [Topic(("the University of Chicago", "University of Chicago"))],
    # tune split
    "Southern California": [Topic(("Southern California",), place=True)],
    "Sky (United Kingdom)": [Topic(("BSkyB", "Sky UK", "Sky"))],
    "Victoria (Australia)": [Topic(("Victoria",), place=True)],
    "Oxygen": [Topic(("oxygen",))],
    "Apollo program": [Topic(("the Apollo program", "Apollo"))],
    "Packet switching": [Topic(("packet switching",))],
    "Newcastle upon Tyne": [Topic(("Newcastle upon Tyne", "Newcastle"), place=True)],
    "Victoria and Albert Museum": [
        Topic(("the Victoria and Albert Museum", "the V&A", "V&A", "the museum"))
    ],
    "Civil disobedience": [Topic(("civil disobedience",))],
    "Economic inequality": [Topic(("economic inequality", "income inequality"))],
}


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_AUX = _set("did does do was is were are has have had can could will would should might")
_WORD = re.compile(r"[\w'’&-]+")
_QUANTIFIERS = _set("many more most some all few other several both each every such")
# Words that change what is asked, not what it is asked about.
_FRAME = _AUX | _set("what which who whom whose when where why how many much")
_PREPOSITIONS = _set("the a an in on at of for by to from during after before with")


def mention(question: str, topic: Topic) -> re.Match[str] | None:
    """The first mention of the topic in question (case-insensitive, whole words), its
    longest form where two start at the same place or one holds another."""
    names = "|".join(re.escape(n) for n in sorted(topic.names, key=len, reverse=True))
    return re.search(rf"(?<![\w-])(?:{names})(?![\w-])", question, re.IGNORECASE)


def with_pronoun(question: str, topic: Topic) -> str | None:
    """question with its one mention of topic replaced by a pronoun; None where it has none,
    more than one, or a form this rule cannot rewrite."""
    m = mention(question, topic)
    if m is None or mention(question[m.end() :], topic) is not None:
        return None
    subject, obj, possessive = topic.pronouns
    before, after = question[: m.start()], question[m.end() :]
    if not re.match(r"(['’]s?\b|\s*[?,.;:]|\s*$|\s+[a-z])", after):
        return None  # part of a longer name ("the Warsaw Ghetto", "Harvard/Radcliffe")
    words = _WORD.findall(before) or [""]
    inside = words[-1].lower() in _QUANTIFIERS or (len(words) > 1 and words[-1][0].isupper())
    if inside:
        return None  # inside a noun phrase ("many teachers", "Nepalese private schools")
    the = re.search(r"\bthe $", before, re.IGNORECASE)
    if the and not topic.names[0].lower().startswith("the ") and not re.match(r"\s+[a-z]", after):
        before = before[: the.start()]  # "by the EU law?" -> "by it?"
    if re.match(r"['’]s?\b", after):  # "Tesla's" -> "his"; "the Genghis Khan's" too
        return _join(before, possessive, re.sub(r"^['’]s?", "", after))
    if re.search(r"\bthe $", before, re.IGNORECASE) and re.match(r"\s+[a-z]", after):
        # a modifier: "the Super Bowl 50 halftime show" -> "its halftime show"
        return _join(before[: -len("the ")], possessive, after)
    # "the population of Warsaw" -> "its population"
    of = re.search(r"\bthe ((?:[\w-]+ )?[\w-]+) of $", before, re.IGNORECASE)
    if of:
        return _join(before[: of.start()], f"{possessive} {of.group(1)}", after)
    if (
        topic.place
        and re.search(r"\b(in|at) $", before, re.IGNORECASE)
        and re.match(r"\s*([?,]|$|\s(in|on|during|before|after|since|by)\b)", after)
    ):
        return _join(re.sub(r"\b(in|at) $", "", before, flags=re.IGNORECASE), "there", after)
    if re.match(r"\s+(who|that|which|in [A-Z])", after):
        return None  # a pronoun takes no modifier ("teachers in Wales", "those who")
    words = _WORD.findall(before.lower())
    pronoun = subject if not words or words[-1] in _AUX else obj
    return _join(before, pronoun, after)


def _join(before: str, word: str, after: str) -> str:
    text = f"{before}{word}{after}"
    text = re.sub(r"\s+([?,.;:])", r"\1", re.sub(r"\s+", " ", text)).strip()
    return text[0].upper() + text[1:]


def ellipsis(context: str, question: str) -> str | None:
    """ "And X?" where question differs from context only in a short slot X, put in place of
    a slot of about its length that is not the same words spelt otherwise; else None."""
    a, b = context.rstrip("?").split(), question.rstrip("?").split()
    p = 0
    while p < min(len(a), len(b)) and a[p].lower() == b[p].lower():
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[-1 - s].lower() == b[-1 - s].lower():
        s += 1
    slot, was = b[p : len(b) - s], a[p : len(a) - s]
    if not (1 <= len(slot) <= 4 and 1 <= len(was) <= 4 and abs(len(slot) - len(was)) <= 1):
        return None
    if p + s < 0.6 * len(b) or p == 0:
        return None  # the question's frame must be the context's, and start the same way
    if any(w.lower() in _FRAME for w in slot + was):
        return None  # a different verb or question word: another question, not a slot
    if fuzz.ratio(" ".join(slot).lower(), " ".join(was).lower()) > 70:
        return None  # a spelling or an inflection changed, not the thing asked about
    while p > 0 and b[p - 1].lower() in _PREPOSITIONS:
        p -= 1
    return f"And {' '.join(b[p : len(b) - s])}?"


def pairs(split: str) -> list[dict[str, Any]]:
    """The candidate pairs of split: at most two follow-ups per passage, each question used
    once as a follow-up and once as a context at most."""
    passages = {r["id"]: r for r in read_jsonl(SQUAD / "passages.jsonl")}
    by_passage: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in read_jsonl(SQUAD / "questions.jsonl"):
        title = passages[q["gold"][0]]["title"]
        if split_of(title.replace("_", " ")) == split:
            by_passage[q["gold"][0]].append(q)
    out = []
    seen: set[str] = set()
    for pid, questions in by_passage.items():
        topics = TOPICS[passages[pid]["title"].replace("_", " ")]
        used: set[str] = set()
        made = 0
        for q2 in questions:
            if made == 2 or q2["question"] in seen:
                break
            for q1 in questions:
                if q1 is q2 or q1["id"] in used or q2["id"] in used:
                    continue
                found = _rewrite(q1["question"], q2["question"], topics)
                if found is None:
                    continue
                kind, follow = found
                out.append(
                    {
                        "id": q2["id"],
                        "context": q1["question"],
                        "question": follow,
                        "full": q2["question"],
                        "kind": kind,
                        "gold": q2["gold"],
                        "answers": q2["answers"],
                    }
                )
                used |= {q1["id"], q2["id"]}
                seen.add(q2["question"])  # SQuAD repeats a few questions word for word
                made += 1
                break
    return out


_PRONOUN = re.compile(r"\b(he|she|his|her|him|it|its|they|them|their|this|these|those)\b", re.I)


def _rewrite(context: str, question: str, topics: list[Topic]) -> tuple[str, str] | None:
    """(kind, follow-up) for question after context, or None where neither rule applies.
    Questions that already lean on a pronoun (SQuAD's are written beside their passage) are
    left out on both sides: a pair tests the one reference the rewrite makes."""
    if _PRONOUN.search(context) or _PRONOUN.search(question):
        return None
    short = ellipsis(context, question)
    if short is not None:
        return "ellipsis", short
    for topic in topics:
        if mention(context, topic) is None:
            continue  # the pronoun would have nothing to stand for
        follow = with_pronoun(question, topic)
        if follow is not None and follow != question:
            return "pronoun", follow
    return None


def sample(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """At most n pairs an article, ellipses first (they are rarer), then by a hash of the id
    (a fixed choice that does not depend on the order of the file)."""
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_article[row["gold"][0].rsplit("-p", 1)[0]].append(row)
    kept = []
    for members in by_article.values():
        members.sort(key=lambda r: (r["kind"] != "ellipsis", zlib.crc32(r["id"].encode())))
        kept += members[:n]
    return kept


def reviewed(rows: list[dict[str, Any]], review: dict[str, Any]) -> list[dict[str, Any]]:
    """rows after their reading: an id mapped to a string gets that follow-up instead of the
    generated one, an id mapped to {"drop": why} is left out."""
    unknown = set(review) - {r["id"] for r in rows}
    if unknown:
        raise SystemExit(f"review names pairs that were not generated: {sorted(unknown)[:3]}")
    kept = []
    for row in rows:
        decision = review.get(row["id"])
        if isinstance(decision, dict):
            continue
        kept.append({**row, "question": decision} if decision else row)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tune", "report"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--per-article", type=int, default=0, help="keep at most this many pairs an article"
    )
    parser.add_argument("--review", type=Path, help="the reading's decisions (review.json)")
    args = parser.parse_args()
    rows = pairs(args.split)
    if args.per_article:
        rows = sample(rows, args.per_article)
    if args.review:
        rows = reviewed(rows, json.loads(args.review.read_text(encoding="utf-8")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    kinds = defaultdict(int)
    for row in rows:
        kinds[row["kind"]] += 1
    print(f"{len(rows)} pairs ({dict(kinds)}) -> {args.out}")


if __name__ == "__main__":
    main()
