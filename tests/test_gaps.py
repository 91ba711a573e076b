"""The gaps log and its grouping by meaning (bot/answer/gaps.py) and `python -m bot gaps`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.answer.compose import Answerer
from bot.answer.gaps import (
    DECLINED,
    DOWNVOTE,
    Gap,
    GapsLog,
    Where,
    find_gaps,
    parse_since,
    read_gaps,
)
from bot.cli import main
from bot.errors import BotError
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index

from .conftest import DOCS
from .test_cli import write_config

# Three topics for the bag-of-words fake embedder: four ways to ask about bees' wax (two the same
# but for case), two about Etna, one about tea (no shared words across topics).
BEES = [
    "How do honey bees make wax?",
    "how do honey bees make wax?",
    "How do honey bees make their wax?",
    "Do honey bees make wax?",
]
ETNA = ["When did Mount Etna last erupt?", "When did Etna last erupt?"]
TEA = ["What is the price of green tea?"]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def answerer(settings, fake_embedder) -> Answerer:
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    return Answerer(index, fake_embedder, settings.retrieval, settings.answer)


def write_log(path, questions, *, time=None, kind=DECLINED):
    """Entries as the log held them before places were recorded (an hour ago by default)."""
    time = time or (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    with path.open("a", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps({"time": time, "kind": kind, "question": q, "source": None}) + "\n")


def test_questions_are_grouped_by_meaning_largest_first(settings, fake_embedder):
    gaps = [Gap(NOW, DECLINED, q) for q in [*TEA, *ETNA, *BEES]]
    gaps[-1] = Gap(NOW, DOWNVOTE, gaps[-1].question)
    groups = find_gaps(answerer(settings, fake_embedder), gaps, distance=0.5)
    assert [g.count for g in groups] == [4, 2, 1]
    bees, etna, tea = groups
    # case-only repeats are one example; the most central come first, at most three
    assert bees.examples == [BEES[0], BEES[2], BEES[3]]
    assert (bees.declined, bees.count - bees.declined) == (3, 1)
    assert sorted(etna.examples) == sorted(ETNA) and tea.examples == TEA
    assert bees.closest is not None and bees.closest.source == "bees.md"
    assert etna.closest is not None and etna.closest.source == "nested/volcano.txt"
    # what the docs almost say is quoted verbatim from the source
    assert bees.closest.quote in DOCS["bees.md"]
    assert bees.to_json()["closest"]["source"] == "bees.md"


def test_a_small_distance_keeps_every_question_apart(settings, fake_embedder):
    gaps = [Gap(NOW, DECLINED, q) for q in [BEES[0], BEES[3], *ETNA]]
    groups = find_gaps(answerer(settings, fake_embedder), gaps, distance=0.01)
    assert [g.count for g in groups] == [1, 1, 1, 1]


def test_log_appends_lines_without_user_and_reads_back_since(tmp_path):
    path = tmp_path / "gaps.jsonl"
    times = iter([datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC)])
    log = GapsLog(path, clock=lambda: next(times))
    log.append("old question?", DECLINED)
    log.append("new question?", DOWNVOTE, "doc.txt")
    with path.open("a", encoding="utf-8") as f:
        f.write("not json\n")
    assert set(json.loads(path.read_text().splitlines()[1])) == {
        "time",
        "kind",
        "question",
        "source",
    }
    assert [g.question for g in read_gaps(path)] == ["old question?", "new question?"]
    recent = read_gaps(path, parse_since("2026-02-01"))
    assert [(g.question, g.kind) for g in recent] == [("new question?", DOWNVOTE)]
    assert read_gaps(tmp_path / "missing.jsonl") == []


def test_bad_since_is_a_clear_error():
    with pytest.raises(BotError, match="--since must be a date"):
        parse_since("last tuesday")


def test_gaps_command_prints_groups_as_json(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    write_log(tmp_path / "gaps.jsonl", [*BEES, *ETNA, *TEA])
    write_log(tmp_path / "gaps.jsonl", ["What colour is the sky?"], time="2025-01-01T00:00:00")
    assert main(["gaps", "--json", "--since", "2026-01-01", "--config", cfg]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["questions"] == 7
    assert [g["count"] for g in out["groups"]] == [4, 2, 1]
    assert out["groups"][0]["closest"]["source"] == "bees.md"
    assert out["groups"][1]["examples"][0] in ETNA


def test_gaps_command_text_names_counts_examples_and_closest_passage(
    tmp_path, settings, use_fake, capsys
):
    cfg = write_config(tmp_path)
    write_log(tmp_path / "gaps.jsonl", [*BEES, *ETNA])
    assert main(["gaps", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert out.startswith("6 logged question(s) in 2 groups, largest first.")
    assert "1. 4 question(s) (4 declined)" in out and "   - How do honey bees make wax?" in out
    assert "Closest passage (confidence" in out and "Honey Bees (bees.md, line" in out


def test_gaps_command_with_no_log_says_so(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["gaps", "--config", cfg]) == 0
    assert capsys.readouterr().out.startswith("No declined or 👎 questions logged")


def test_gaps_command_bad_since_is_one_line(tmp_path, settings, use_fake, capsys):
    cfg = write_config(tmp_path)
    assert main(["gaps", "--since", "yesterday", "--config", cfg]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --since must be a date") and err.count("\n") == 1


def test_entries_past_the_retention_are_dropped_from_the_file(tmp_path):
    path = tmp_path / "gaps.jsonl"
    now = datetime(2026, 6, 1, tzinfo=UTC)
    at = [now - timedelta(days=100)]
    log = GapsLog(path, clock=lambda: at[0], retention_days=90)
    log.append("too old?", DECLINED)  # the first append prunes (nothing to drop yet)
    at[0] = now - timedelta(hours=1)
    log.append("recent?", DECLINED)  # a day since the last prune: this one drops the old
    assert [json.loads(x)["question"] for x in path.read_text().splitlines()] == ["recent?"]
    at[0] = now
    assert log.prune() == 0  # nothing older left
    assert [g.question for g in read_gaps(path, retention_days=90, now=now)] == ["recent?"]
    assert read_gaps(path, retention_days=90, now=now + timedelta(days=91)) == []


def test_forget_user_erases_only_their_entries_and_the_log_holds_no_id(tmp_path):
    path = tmp_path / "gaps.jsonl"
    log = GapsLog(path)
    mine = Where(guild=1, channel=2, scopes=(), user=log.user_key(123456789))
    theirs = Where(guild=1, channel=2, scopes=(), user=log.user_key(987654321))
    log.append("mine?", DECLINED, where=mine)
    log.append("theirs?", DOWNVOTE, where=theirs)
    log.append("mine again?", DECLINED, where=mine)
    text = path.read_text()
    assert "123456789" not in text and "987654321" not in text
    assert (tmp_path / "gaps.jsonl.key").stat().st_mode & 0o077 == 0  # owner only
    assert GapsLog(path).forget_user(123456789) == 2  # a new process: same key, same hash
    assert [g.question for g in read_gaps(path)] == ["theirs?"]
    assert read_gaps(path)[0].where == theirs


def test_gaps_forget_user_command(tmp_path, settings, capsys):
    cfg = write_config(tmp_path)
    log = GapsLog(tmp_path / "gaps.jsonl")
    log.append("mine?", DECLINED, where=Where(user=log.user_key(42)))
    assert main(["gaps", "--forget-user", "42", "--config", cfg]) == 0
    assert capsys.readouterr().out == "Erased 1 entry of user 42 from the gaps log.\n"
    assert read_gaps(tmp_path / "gaps.jsonl") == []
