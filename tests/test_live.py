"""Background index updates and watch mode: answering never stops while the index changes."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from bot import app, live
from bot.cli import main
from bot.config import settings_from_dict
from bot.errors import ConfigError
from bot.frontends.repl import Repl
from bot.live import LiveIndex, open_live
from bot.search.store import Index

TEA = "Green Tea\n\nGreen tea comes from the leaves of Camellia sinensis, picked by hand."
WAIT = 30  # seconds: a bound for waiting on another thread, never expected to be reached


def ask(live_index: LiveIndex, question: str):
    """What a front end does per question: take a finished update, then answer."""
    live_index.adopt_update()
    return live_index.current.answerer.ask(question)


def sources(live_index: LiveIndex) -> set[str]:
    return {d.source for d in live_index.current.index.documents}


def until(check, signal: threading.Event) -> bool:
    """Wait (bounded by WAIT) until check() is true, checking again each time signal is set.
    Whoever sets signal changes what check() reads first, so a signal cleared here unseen
    is one whose change the next check() sees."""
    deadline = time.monotonic() + WAIT
    while not check():
        if not signal.wait(max(0.0, deadline - time.monotonic())):
            return False
        signal.clear()
    return True


def settle(live_index: LiveIndex, ready: threading.Event, done) -> bool:
    """Wait until the watcher's updates make done(live_index) true; ready is the LiveIndex's
    on_ready, set by each finished update (after it is there to take)."""

    def switched() -> bool:
        live_index.adopt_update()
        return done(live_index)

    return until(switched, ready)


class Said(logging.Handler):
    """Signals each log record whose message holds text, from whichever thread logs it."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


@pytest.fixture
def said_index_updated():
    """Set each time a front end logs that it switched to an updated index (or failed to)."""
    said = Said("Index update")
    logger = logging.getLogger("bot")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(said)
    yield said.event
    logger.removeHandler(said)
    logger.setLevel(level)


@pytest.fixture
def opened(settings, use_fake):
    app.rebuild(settings, use_fake, progress=False)
    live_index, reasons = open_live(settings, progress=False)
    assert reasons == []
    yield live_index
    live_index.close()


@pytest.fixture
def ready(opened):
    """Set by each update of opened that finished with something to take (its on_ready)."""
    event = threading.Event()
    opened.on_ready = event.set
    return event


@pytest.fixture
def gate(monkeypatch):
    """Hold every background rebuild until released; count them."""

    class Gate:
        def __init__(self) -> None:
            self.started = threading.Event()
            self.release = threading.Event()
            self.calls = 0

    g = Gate()
    real = app.rebuild

    def held(*args, **kwargs):
        g.calls += 1
        g.started.set()
        assert g.release.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr("bot.app.rebuild", held)
    return g


def test_watch_picks_up_added_changed_and_removed_files_answering_throughout(
    settings, opened, ready
):
    seeds = settings.seeds_dir
    answers, errors = [], []
    stop = threading.Event()

    def asker() -> None:  # a user asking the same question over and over meanwhile
        while not stop.is_set():
            try:
                answers.append(ask(opened, "Where is Mount Etna?"))
            except Exception as exc:
                errors.append(exc)

    opened.start(watch=True, step_ms=50, debounce_ms=400, timeout_ms=100)
    assert opened.watching.wait(WAIT)
    thread = threading.Thread(target=asker)
    thread.start()
    try:
        (seeds / "tea.txt").write_text(TEA, encoding="utf-8")
        assert settle(opened, ready, lambda li: "tea.txt" in sources(li))
        answer = ask(opened, "Which plant do green tea leaves come from?")
        assert answer.results[0].source == "tea.txt"

        (seeds / "tea.txt").write_text(
            TEA.replace("picked by hand", "grown in Darjeeling"), "utf-8"
        )
        assert settle(opened, ready, lambda li: "Darjeeling" in li.current.index.documents[-1].text)
        assert "Darjeeling" in ask(opened, "Where is green tea grown?").results[0].passage

        (seeds / "tea.txt").unlink()
        assert settle(opened, ready, lambda li: "tea.txt" not in sources(li))
    finally:
        stop.set()
        thread.join(WAIT)
    assert errors == []
    assert answers and all(
        a.answered and a.results[0].source == "nested/volcano.txt" for a in answers
    )


def test_questions_are_answered_from_the_old_index_while_an_update_runs(settings, opened, gate):
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    opened.start(watch=False)
    opened.request()
    assert gate.started.wait(WAIT)  # the update is running, holding its rebuild
    for _ in range(3):
        answer = ask(opened, "Where is Mount Etna?")
        assert answer.answered and answer.results[0].source == "nested/volcano.txt"
        assert "tea.txt" not in {d.source for d in opened.current.index.documents}
    assert opened.busy  # what the REPL's prompt shows meanwhile
    gate.release.set()
    assert opened.wait_idle(WAIT, updates=1)
    assert not opened.busy
    assert ask(opened, "Which plant do green tea leaves come from?").results[0].source == "tea.txt"


def test_repl_says_one_line_when_it_switches(settings, opened, gate):
    console = Console(record=True, width=200, color_system=None)
    cur = opened.current
    repl = Repl(cur.answerer, cur.index, console, k=1, live=opened)
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    (settings.seeds_dir / "bees.md").unlink()
    opened.start(watch=False)
    opened.request()
    assert gate.started.wait(WAIT)
    repl.handle("Where is Mount Etna?")  # answered from the index it has, nothing said
    assert "Index updated" not in console.export_text(clear=False)
    gate.release.set()
    assert opened.wait_idle(WAIT, updates=1)
    repl.handle("Which plant do green tea leaves come from?")
    repl.handle("Where is Mount Etna?")
    out = console.export_text()
    lines = [line for line in out.splitlines() if line.startswith("Index updated")]
    assert len(lines) == 1
    assert "1 file added (tea.txt), 1 file removed (bees.md)" in lines[0]
    assert "Answering from the new index." in lines[0]
    assert out.index("Index updated") < out.index("Green Tea  (tea.txt")


def test_a_burst_of_changes_during_an_update_makes_one_more_update(settings, opened, gate):
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    opened.start(watch=False)
    opened.request()
    assert gate.started.wait(WAIT)
    for i in range(200):  # a git pull landing while the first update runs
        path = settings.seeds_dir / "pulled" / f"doc{i:03}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"Document {i}\n\nFact number {i} is about topic {i}.", encoding="utf-8")
        opened.changed([str(path)])
    gate.release.set()
    assert opened.wait_idle(WAIT, updates=2)
    # 200 requests during the first update made one more run, not 200 (it found nothing left
    # to embed: the held rebuild read the folder after the burst)
    assert opened.updates == gate.calls == 2
    update = opened.adopt_update()
    assert update is not None and len(update.added) == 201
    assert (
        "201 files added (pulled/doc000.txt, pulled/doc001.txt, pulled/doc002.txt and 198 more)"
        in (update.message)
    )
    assert len(Index.load(settings.index_dir).documents) == 204


def test_a_burst_of_file_writes_is_seen_by_the_watcher_as_one_update(settings, opened, monkeypatch):
    batches: list[set[str]] = []  # the names in each batch the watcher reported
    reported = threading.Event()
    changed = opened.changed

    def recorded(paths):
        batches.append({Path(p).name for p in paths})
        reported.set()
        changed(paths)

    monkeypatch.setattr(opened, "changed", recorded)  # what start() hands the watcher
    opened.start(watch=True, step_ms=500, debounce_ms=5000, timeout_ms=100)
    assert opened.watching.wait(WAIT)
    pulled = {f"doc{i:03}.txt" for i in range(200)}
    for name in sorted(pulled):
        path = settings.seeds_dir / "pulled" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"Document {name}\n\nFact {name} is about a topic.", encoding="utf-8")
    assert opened.wait_idle(WAIT, updates=1)
    update = opened.adopt_update()
    assert update is not None and {Path(a).name for a in update.added} == pulled
    # Proof that the burst is over, instead of waiting to see that nothing more comes: a later
    # write arrives in a batch of its own, so every batch before it is the burst's.
    (settings.seeds_dir / "later.txt").write_text(TEA, encoding="utf-8")
    assert until(lambda: any("later.txt" in b for b in batches), reported)
    later = next(i for i, b in enumerate(batches) if "later.txt" in b)
    # The 200 writes came as one batch (files made before the new folder was watched are
    # reported as the folder), so they made one update; none of them came late.
    assert len(batches[:later]) == 1 and not pulled & batches[later]


def test_a_failed_update_is_reported_and_answering_goes_on(settings, opened, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("bot.app.rebuild", broken)
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    opened.start(watch=False)
    opened.request()
    assert opened.wait_idle(WAIT, updates=1)
    update = opened.adopt_update()
    assert update is not None and update.loaded is None
    assert update.message.startswith("Index update failed: OSError: disk full")
    assert ask(opened, "Where is Mount Etna?").results[0].source == "nested/volcano.txt"


def test_nothing_changed_means_no_switch(settings, opened):
    opened.start(watch=False)
    opened.request()
    assert opened.wait_idle(WAIT, updates=1)
    assert opened.adopt_update() is None


def test_ask_with_a_big_change_answers_from_the_current_index_and_says_how(
    tmp_path, settings, use_fake, capsys
):
    (tmp_path / "config.toml").write_text(
        f'cache_dir = "{tmp_path / "cache"}"\n[chunking]\ntarget_tokens = 20\n', encoding="utf-8"
    )
    cfg = str(tmp_path / "config.toml")
    assert main(["index", "--config", cfg]) == 0
    before = Index.load(settings.index_dir).folder
    sentences = (
        f"Chapter {i} of the manual explains setting number {i} in detail." for i in range(3000)
    )
    (settings.seeds_dir / "manual.txt").write_text("Manual\n\n" + " ".join(sentences), "utf-8")
    capsys.readouterr()
    use_fake.calls.clear()
    assert main(["ask", "Where is Mount Etna?", "--config", cfg]) == 0
    out, err = capsys.readouterr()
    assert "Mount Etna in Sicily" in out
    assert "the index is out of date (new file manual.txt: about" in err
    assert "Update it with: python -m bot index" in err
    assert use_fake.calls == [1]  # the question only: nothing embedded
    assert Index.load(settings.index_dir).folder == before  # nothing written


def test_ask_with_a_small_change_updates_first(tmp_path, settings, use_fake, capsys):
    (tmp_path / "config.toml").write_text(
        f'cache_dir = "{tmp_path / "cache"}"\n[chunking]\ntarget_tokens = 20\n', encoding="utf-8"
    )
    cfg = str(tmp_path / "config.toml")
    assert main(["index", "--config", cfg]) == 0
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    capsys.readouterr()
    assert main(["ask", "Which plant do green tea leaves come from?", "--config", cfg]) == 0
    out, err = capsys.readouterr()
    assert "Green Tea  (tea.txt" in out and "out of date" not in err


def test_estimate_counts_only_new_and_changed_files(settings, opened):
    index = opened.current.index
    files = {d.source: d.sha256 for d in index.documents}

    def estimate(s=settings) -> int:
        reasons = app.staleness(index, s, opened.embedder, files)
        return live.estimate_passages(index, s, reasons)

    assert estimate() == 0  # nothing new or changed
    tea = settings.seeds_dir / "tea.txt"
    files["tea.txt"] = "new"
    tea.write_text(TEA * 5, encoding="utf-8")
    smaller = estimate()
    tea.write_text(TEA * 10, encoding="utf-8")
    new = estimate()
    assert 0 < smaller < new  # a bigger new file: more to embed
    known, files["bees.md"] = files["bees.md"], "changed"
    assert estimate() > new  # a changed file counts too
    files["bees.md"] = known
    assert estimate() == new
    # "about N passages to embed": within a factor of two of what the update then embeds
    _, report = app.rebuild(settings, opened.embedder, progress=False)
    assert report.embedded_documents == ["tea.txt"]
    assert report.embedded_passages / 2 <= new <= report.embedded_passages * 2
    # another chunking size re-embeds every file: more than the new one alone
    bigger = replace(settings, chunking=replace(settings.chunking, target_tokens=30))
    assert estimate(bigger) > new


async def test_discord_bot_switches_on_the_event_loop_and_logs(
    tmp_path, settings, use_fake, caplog, said_index_updated
):
    from bot.discord.client import Core, QuoteBot

    settings = replace(settings, watch=False)
    app.rebuild(settings, use_fake, progress=False)
    core = Core(settings)
    bot = QuoteBot(
        settings, load=core.load, reindex=core.reindex, updates=core, sync_commands=False
    )
    await bot.__aenter__()  # `async with bot`: binds this loop
    await bot.setup_hook()
    first = bot.answerer
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    caplog.set_level(logging.INFO, logger="bot")
    assert core.live is not None
    core.live.request()
    # The update's thread schedules the switch on this loop, which logs it once done; the
    # loop is free meanwhile (the wait runs in a thread).
    assert await asyncio.to_thread(said_index_updated.wait, WAIT)
    assert bot.answerer is not first
    assert "Index updated: 1 file added (tea.txt)" in caplog.text
    answer, _ = await bot.answer("Which plant do green tea leaves come from?", 1)
    assert answer.results[0].source == "tea.txt"
    await bot.close()


def test_watch_setting_is_validated(tmp_path):
    assert settings_from_dict({}, tmp_path).watch is True
    assert settings_from_dict({"watch": False}, tmp_path).watch is False
    with pytest.raises(ConfigError, match="watch must be true or false"):
        settings_from_dict({"watch": "yes"}, tmp_path)


def test_repl_and_bot_start_watching_when_the_setting_is_on(settings, use_fake, monkeypatch):
    app.rebuild(settings, use_fake, progress=False)
    watched = []  # the folder of each watcher started

    def watch_folder(folder, on_change, stop, **options) -> None:
        watched.append(folder)

    monkeypatch.setattr("bot.live.watch_folder", watch_folder)
    for watch in (True, False):  # start() as the REPL and the bot call it: no watch argument
        live_index, _ = open_live(replace(settings, watch=watch), progress=False)
        live_index.start()
        assert live_index.close(WAIT)  # joins the watcher's thread, when there is one
        assert watched == [settings.seeds_dir]  # one watcher, from the setting that is on


def test_closing_stops_an_update_between_model_calls(settings, opened, use_fake, monkeypatch):
    sentences = (f"Chapter {i} explains setting number {i} in detail." for i in range(2000))
    (settings.seeds_dir / "manual.txt").write_text("Manual\n\n" + " ".join(sentences), "utf-8")
    before = Index.load(settings.index_dir).folder
    started, calls, stops = threading.Event(), [], []
    inner, rebuild = use_fake.embed, app.rebuild

    def kept(*args, **kwargs):  # the update's rebuild, keeping the event that stops it
        stops.append(kwargs["stop"])
        return rebuild(*args, **kwargs)

    def held(texts, *, progress=False):  # the first model call of the update lasts until close
        calls.append(len(texts))
        if not started.is_set():
            started.set()
            assert stops[0].wait(WAIT)  # close() was called
        return inner(texts, progress=progress)

    monkeypatch.setattr("bot.app.rebuild", kept)
    monkeypatch.setattr(use_fake, "embed", held)
    opened.start(watch=False)
    opened.request()
    assert started.wait(WAIT)
    assert opened.close(WAIT)  # the worker ended: no model call left running at exit
    assert len(calls) == 1  # the call in flight, then no other
    assert calls[0] < 200  # a slice, not every passage of the file in one call
    assert Index.load(settings.index_dir).folder == before  # nothing half-done was saved
    assert opened.adopt_update() is None


async def test_discord_bot_watching_answers_throughout_added_changed_removed(
    tmp_path, settings, use_fake, monkeypatch, caplog, said_index_updated
):
    import functools

    from bot.discord.checks import GENERIC_ERROR
    from bot.discord.client import Core
    from tests.discord_fakes import BOT_ID, deliver, guild_message, make_bot

    monkeypatch.setattr(
        "bot.live.watch_folder",
        functools.partial(live.watch_folder, step_ms=50, debounce_ms=400, timeout_ms=100),
    )
    caplog.set_level(logging.INFO, logger="bot")
    app.rebuild(settings, use_fake, progress=False)
    core = Core(settings)  # watch is on by default
    bot, http, _ = await make_bot(tmp_path, None, core=core)
    assert core.live is not None and await asyncio.to_thread(core.live.watching.wait, WAIT)
    users = iter(range(5000, 10**6))
    asked: dict[int, str] = {}  # message id -> question

    async def mention(question: str) -> dict:
        msg = guild_message(bot, f"<@{BOT_ID}> {question}", author_id=next(users))
        asked[msg.id] = question
        await deliver(bot, msg)
        [reply] = [r for r in http.sent if r["message_reference"]["message_id"] == msg.id]
        return reply

    def text(reply: dict) -> str:
        embed = (reply.get("embeds") or [{}])[0]
        return f"{reply.get('content')} {embed.get('description')} {embed.get('footer')}"

    stop = asyncio.Event()

    async def asker() -> None:  # someone asking about Etna all along
        while not stop.is_set():
            await mention("Where is Mount Etna?")
            await asyncio.sleep(0.01)  # pacing that user, not waiting for anything

    async def settle(done) -> bool:
        """Until the index the bot answers from makes done true, checking at each switch."""
        docs = lambda: {d.source: d.text for d in bot.answerer.index.documents}  # noqa: E731
        return await asyncio.to_thread(until, lambda: done(docs()), said_index_updated)

    seeds = settings.seeds_dir
    task = asyncio.create_task(asker())
    try:
        (seeds / "tea.txt").write_text(TEA, encoding="utf-8")
        assert await settle(lambda docs: "tea.txt" in docs)
        assert "tea.txt" in text(await mention("Which plant do green tea leaves come from?"))

        (seeds / "tea.txt").write_text(
            TEA.replace("picked by hand", "grown in Darjeeling"), "utf-8"
        )
        assert await settle(lambda docs: "Darjeeling" in docs.get("tea.txt", ""))
        assert "Darjeeling" in text(await mention("Where is green tea grown?"))

        (seeds / "tea.txt").unlink()
        assert await settle(lambda docs: "tea.txt" not in docs)
        assert "tea.txt" not in text(await mention("Which plant do green tea leaves come from?"))
    finally:
        stop.set()
        await task
        await bot.close()
    replies = {r["message_reference"]["message_id"]: r for r in http.sent}
    assert len(http.sent) == len(replies) == len(asked)  # every question got its one reply
    etna = [text(replies[i]) for i, q in asked.items() if q == "Where is Mount Etna?"]
    assert len(etna) >= 3 and all("nested/volcano.txt" in t for t in etna)
    assert not any(GENERIC_ERROR in text(r) for r in http.sent)
    updates = [r.getMessage() for r in caplog.records if "Index updated" in r.getMessage()]
    assert any("1 file added (tea.txt)" in m for m in updates)
    assert any("1 file changed (tea.txt)" in m for m in updates)
    assert any("1 file removed (tea.txt)" in m for m in updates)
