import re

import pytest
from rich.console import Console

from bot.answer.compose import Answerer
from bot.config import AnswerSettings, RetrievalSettings
from bot.frontends.repl import Repl
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index


@pytest.fixture
def session(settings, fake_embedder):
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(), AnswerSettings())
    console = Console(record=True, width=200, color_system=None)
    return Repl(answerer, index, console, k=3), console


def scripted(lines):
    """A reader that replays lines; exceptions in the list are raised (Ctrl-C, Ctrl-D)."""
    items = iter(lines)

    def read():
        item = next(items)
        if isinstance(item, BaseException):
            raise item
        return item

    return read


def test_transcript_of_a_session(session):
    repl, console = session
    status = repl.loop(
        scripted(
            [
                "Who was the first person to walk on the lunar surface?",
                ":k 1",
                "Where is Mount Etna?",
                ":sources",
                ":help",
                ":quit",
            ]
        )
    )
    out = console.export_text()
    assert status == 0
    assert "Apollo Program  (apollo.txt, line" in out
    # The answering sentence is marked (with the better of its neighbours).
    answer = re.escape("Neil Armstrong was the first person to walk on the lunar surface in 1969.")
    assert re.search(rf"\*\*[^*]*{answer}[^*]*\*\*", out)
    assert "Quoting up to 1 source." in out  # singular
    # with :k 1 the Etna answer has no further sources
    etna = out[out.index("Quoting up to 1") : out.index("Honey Bees  bees.md")]
    assert "Volcanoes" in etna and "Also in the sources" not in etna
    assert "Honey Bees  bees.md" in out and "nested/volcano.txt" in out
    assert ":k N" in out


def test_ctrl_c_cancels_the_line_and_ctrl_d_exits(session):
    repl, console = session
    assert repl.loop(scripted([KeyboardInterrupt(), "Where is Mount Etna?", EOFError()])) == 0
    assert "Volcanoes" in console.export_text()


def test_bad_input_never_kills_the_session(session):
    repl, console = session
    repl.loop(
        scripted(
            ["x" * 10_000, ":k zero", ":nonsense", "   ", "What is a good cheesecake recipe?", ":q"]
        )
    )
    out = console.export_text()
    assert "the limit is 1,000" in out
    assert "Usage: :k N" in out
    assert "Unknown command :nonsense" in out
    assert "My sources don't cover that" in out


def test_an_unexpected_failure_is_reported_not_raised(session, monkeypatch, caplog):
    repl, console = session

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(repl.answerer, "ask", boom)
    assert repl.handle("anything at all?") is True
    assert "Something went wrong" in console.export_text()
    assert "disk on fire" in caplog.text


def test_ctrl_c_while_answering_cancels_only_that_answer(session, monkeypatch):
    repl, console = session
    real_ask = repl.answerer.ask
    calls = []

    def slow_then_interrupted(question, k=None):
        calls.append(question)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_ask(question, k)

    monkeypatch.setattr(repl.answerer, "ask", slow_then_interrupted)
    assert repl.loop(scripted(["first question?", "Where is Mount Etna?", ":quit"])) == 0
    out = console.export_text()
    assert "(cancelled)" in out
    assert "Volcanoes" in out


def test_undecodable_bytes_in_a_line_are_cleaned_and_answered(session):
    repl, console = session
    repl.loop(scripted(["Where is Mount Etna\udcff?", EOFError()]))
    out = console.export_text()
    assert "Mount Etna in Sicily" in out and "went wrong" not in out


def test_history_is_kept_per_index_folder(tmp_path):
    from bot.config import settings_from_dict
    from bot.frontends.repl import history_file

    def settings(index_dir: str):
        return settings_from_dict({"index_dir": index_dir, "cache_dir": "cache"}, tmp_path)

    a, b = settings("a/embeddings"), settings("b/embeddings")
    assert history_file(a) != history_file(b)
    assert history_file(settings("a/embeddings")) == history_file(a)  # the next session's
    assert history_file(a).is_relative_to(tmp_path / "cache")


def test_a_follow_up_is_read_with_the_question_before_it(session):
    repl, console = session
    repl.handle("And in what year?")  # nothing before it: asked alone
    alone = console.export_text(clear=True)
    repl.handle("Who was the first person to walk on the lunar surface?")
    console.export_text(clear=True)
    repl.handle("And in what year?")
    after = console.export_text()
    assert "1969" not in alone.split("Also in the sources")[0]
    assert "1969" in after.split("Also in the sources")[0]
