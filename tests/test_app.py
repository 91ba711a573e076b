"""Building and opening the index one way: rebuild returns what it wrote, open_index opens."""

from __future__ import annotations

import contextlib
from collections import Counter

import numpy as np
import pytest

from bot import app
from bot.ingest import corpus
from bot.live import open_live
from bot.search import store
from bot.search.staleness import Staleness
from bot.search.store import Index

TEA = "Green Tea\n\nGreen tea comes from the leaves of Camellia sinensis, picked by hand."


def test_rebuild_returns_the_index_it_saved(settings, use_fake):
    built, report = app.rebuild(settings, use_fake, progress=False)
    loaded = Index.load(settings.index_dir)
    assert built.version == loaded.version is not None
    assert [d.source for d in built.documents] == [d.source for d in loaded.documents]
    np.testing.assert_array_equal(built.passages.rows, loaded.passages.rows)
    np.testing.assert_array_equal(built.passage_vectors, loaded.passage_vectors)
    np.testing.assert_array_equal(built.tokens.bits, loaded.tokens.bits)
    assert sorted(report.embedded_documents) == sorted(d.source for d in built.documents)
    question = "Who walked on the Moon first?"
    a = app.answer_from(built, use_fake, settings).answerer.ask(question)
    b = app.answer_from(loaded, use_fake, settings).answerer.ask(question)
    assert a.to_json() == b.to_json()


def test_rebuild_of_a_current_index_writes_nothing_and_returns_it(settings, use_fake):
    built, _ = app.rebuild(settings, use_fake, progress=False)
    again, report = app.rebuild(settings, use_fake, previous=built, progress=False)
    assert again is built  # the caller's own index: nothing read back
    assert report.embedded_documents == [] and report.removed_documents == []


@pytest.fixture
def counted(monkeypatch):
    """Count, per file name, the document reads, and the index loads and write locks."""
    counts: Counter[str] = Counter()
    read, load, lock = corpus.read_file, Index.load.__func__, app.write_lock

    def read_file(path):
        counts[f"read {path.name}"] += 1
        return read(path)

    def load_index(cls, *args, **kwargs):
        counts["load"] += 1
        return load(cls, *args, **kwargs)

    @contextlib.contextmanager
    def write_lock(*args, **kwargs):
        counts["lock"] += 1
        with lock(*args, **kwargs):
            yield

    monkeypatch.setattr(corpus, "read_file", read_file)
    monkeypatch.setattr(store.Index, "load", classmethod(load_index))
    monkeypatch.setattr(app, "write_lock", write_lock)
    return counts


# The seeds' files after add_one_change_one, each read once.
EACH_READ_ONCE = {
    "read tea.txt": 1,
    "read apollo.txt": 1,
    "read bees.md": 1,
    "read volcano.txt": 1,
}


def add_one_change_one(settings) -> None:
    """A new document (tea.txt) and a changed one (apollo.txt) in the seeds."""
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    (settings.seeds_dir / "apollo.txt").write_text(
        "Apollo\n\nApollo 11 landed on the Moon in July 1969.", encoding="utf-8"
    )


def reads(counted: Counter[str]) -> dict[str, int]:
    """The document reads among counted."""
    return {k: v for k, v in counted.items() if k.startswith("read")}


def test_a_background_update_reads_each_file_once_and_the_index_not_at_all(
    settings, use_fake, counted
):
    app.rebuild(settings, use_fake, progress=False)
    live, reasons = open_live(settings, progress=False)
    try:
        assert reasons == []
        add_one_change_one(settings)
        counted.clear()
        update = live.update_now()
        assert update is not None and update.added == ["tea.txt"]
        assert update.changed == ["apollo.txt"]
        # Every file is hashed once to see what changed; a changed or new one is not read
        # again to be parsed, and an unchanged one is taken from the index as it is.
        assert reads(counted) == EACH_READ_ONCE
        assert counted["load"] == 0  # built on the index this process answers from
        assert counted["lock"] == 1  # one write, one lock
        assert "tea.txt" in {d.source for d in live.current.index.documents}
    finally:
        live.close()


def test_a_one_shot_update_of_a_stale_index_reads_each_file_once(settings, use_fake, counted):
    # `ask`/`eval` on a stale index: open_index hashed every document to find it stale, and
    # rebuild hashed them all again (each file read twice).
    app.rebuild(settings, use_fake, progress=False)
    add_one_change_one(settings)
    counted.clear()
    loaded, reasons = app.open_index(settings, use_fake, update=True, progress=False)
    assert reasons == [] and "tea.txt" in {d.source for d in loaded.index.documents}
    assert "July 1969" in next(d.text for d in loaded.index.documents if d.source == "apollo.txt")
    assert reads(counted) == EACH_READ_ONCE
    assert counted["load"] == 1 and counted["lock"] == 1


def test_an_update_after_another_process_wrote_reads_the_index_once(settings, use_fake, counted):
    app.rebuild(settings, use_fake, progress=False)
    live, _ = open_live(settings, progress=False)
    try:
        (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
        app.rebuild(settings, use_fake, progress=False)  # "another process" brings it up to date
        counted.clear()
        update = live.update_now()
        assert update is not None and update.loaded is not None
        assert counted["load"] == 1 and counted["lock"] == 0  # current: nothing to write
        assert "written by another process" in update.message
    finally:
        live.close()


def test_open_index_builds_a_missing_index_and_names_a_stale_one(settings, use_fake):
    loaded, reasons = app.open_index(settings, use_fake, update=False, progress=False)
    assert reasons == [] and len(loaded.index) > 0
    (settings.seeds_dir / "tea.txt").write_text(TEA, encoding="utf-8")
    stale, reasons = app.open_index(settings, use_fake, update=False, progress=False)
    assert [(r.kind, r.detail) for r in reasons] == [(Staleness.NEW, "tea.txt")]
    assert "tea.txt" not in {d.source for d in stale.index.documents}
    fresh, reasons = app.open_index(settings, use_fake, update=True, progress=False)
    assert reasons == [] and "tea.txt" in {d.source for d in fresh.index.documents}


def test_an_index_from_an_older_version_is_rebuilt_not_called_damaged(
    settings, use_fake, monkeypatch, caplog
):
    app.rebuild(settings, use_fake, progress=False)
    monkeypatch.setattr(store, "FORMAT_VERSION", store.FORMAT_VERSION + 1)
    loaded, reasons = app.open_index(settings, use_fake, update=False, progress=False)
    assert reasons == [] and len(loaded.index) > 0
    assert "built by an older version" in caplog.text
    assert "damaged" not in caplog.text
