import errno
import json
import logging
import subprocess
import sys
import threading

import pytest

from bot.app import rebuild
from bot.cli import main
from bot.errors import IndexBusyError
from bot.search.lock import HOLDER_FILE, holder, write_lock
from bot.search.store import POINTER, Index

from .conftest import FakeEmbedder
from .test_cli import write_config


class BlockingEmbedder(FakeEmbedder):
    """Stops in its first embed call until released, so a build can be held mid-way."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = threading.Event()
        self.release = threading.Event()
        self.active = 0
        self.most_active = 0
        self._count = threading.Lock()

    def embed(self, texts, *, progress=False):
        with self._count:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            self.inside.set()
            assert self.release.wait(10)
            return super().embed(texts, progress=progress)
        finally:
            with self._count:
                self.active -= 1


def test_a_second_build_waits_for_the_first_and_names_it(settings, caplog):
    embedder = BlockingEmbedder()
    errors: list[BaseException] = []

    def build() -> None:
        try:
            rebuild(settings, embedder, full=True, progress=False)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    said_waiting = threading.Event()

    class Waiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting" in record.getMessage():
                said_waiting.set()

    first = threading.Thread(target=build)
    first.start()
    assert embedder.inside.wait(10)
    handler = Waiting()
    logging.getLogger("bot.search.lock").addHandler(handler)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.search.lock"):
            second = threading.Thread(target=build)
            second.start()
            # It finds the lock held, says so, then waits on it: not building beside the first.
            assert said_waiting.wait(10)
            assert second.is_alive() and embedder.active == 1
            embedder.release.set()
            first.join(10)
            second.join(10)
    finally:
        logging.getLogger("bot.search.lock").removeHandler(handler)
    assert not errors and not first.is_alive() and not second.is_alive()
    assert embedder.most_active == 1
    waited = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert waited and "Another index update" in waited[0] and "pid" in waited[0]
    Index.load(settings.index_dir)  # both finished; the index is whole


def test_another_process_is_told_who_holds_the_lock(tmp_path):
    folder = tmp_path / "index"
    code = (
        "import sys\nfrom pathlib import Path\nfrom bot.search.lock import write_lock\n"
        "from bot.errors import IndexBusyError\n"
        "try:\n    with write_lock(Path(sys.argv[1]), wait=False): print('got it')\n"
        "except IndexBusyError as e: print(e)\n"
    )
    with write_lock(folder):
        out = subprocess.run(
            [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True
        ).stdout
        info = json.loads((folder / HOLDER_FILE).read_text())
    assert "Another index update" in out and f"pid {info['pid']}" in out
    assert not (folder / HOLDER_FILE).exists()  # released: no holder left behind


def test_the_lock_is_reentrant_in_a_thread_and_exclusive_across_threads(tmp_path):
    folder = tmp_path / "index"
    seen: list[str] = []

    def other() -> None:
        try:
            with write_lock(folder, wait=False):
                seen.append("acquired")
        except IndexBusyError as exc:
            seen.append(str(exc))

    with write_lock(folder), write_lock(folder):
        assert "pid" in holder(folder)
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen and seen[0].startswith("Another index update")
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen[-1] == "acquired"


def test_an_unchanged_index_writes_nothing(settings, fake_embedder):
    rebuild(settings, fake_embedder, progress=False)
    before = (settings.index_dir / POINTER).read_text()
    listing = sorted(p.name for p in settings.index_dir.iterdir())
    _, report = rebuild(settings, fake_embedder, progress=False)
    assert (settings.index_dir / POINTER).read_text() == before
    assert sorted(p.name for p in settings.index_dir.iterdir()) == listing
    assert report.embedded_documents == [] and len(report.reused_documents) == 3


def _unwritable(monkeypatch):
    def refuse(self, folder, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(folder / "v-new"))

    monkeypatch.setattr("bot.search.store.Index.save", refuse)


def test_index_into_an_unwritable_folder_is_one_line_naming_it(
    tmp_path, settings, use_fake, capsys, monkeypatch
):
    cfg = write_config(tmp_path)
    assert main(["index", "--config", cfg]) == 0
    _unwritable(monkeypatch)
    assert main(["index", "--config", cfg]) == 0  # nothing changed: nothing to write
    (tmp_path / "seeds" / "tea.txt").write_text("Green tea comes from Camellia.", encoding="utf-8")
    capsys.readouterr()
    assert main(["index", "--config", cfg]) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("\n") == 0
    assert "not writable" in err and str(tmp_path / "embeddings") in err


def test_ask_answers_from_a_stale_unwritable_index_with_a_note(
    tmp_path, settings, use_fake, capsys, monkeypatch
):
    cfg = write_config(tmp_path)
    assert main(["index", "--config", cfg]) == 0
    _unwritable(monkeypatch)
    (tmp_path / "seeds" / "tea.txt").write_text("Green tea comes from Camellia.", encoding="utf-8")
    capsys.readouterr()
    assert main(["ask", "Where is Mount Etna?", "--json", "--config", cfg]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["results"][0]["source"] == "nested/volcano.txt"
    assert "note:" in captured.err and "not writable" in captured.err


@pytest.mark.parametrize("wait", [True, False])
def test_a_folder_that_cannot_be_made_is_named(tmp_path, wait):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with (
        pytest.raises(Exception, match="not writable") as info,
        write_lock(blocker / "i", wait=wait),
    ):
        pass
    assert str(blocker / "i") in str(info.value)


def test_the_holder_is_named_as_the_command_was_typed(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["/somewhere/bot/__main__.py", "index", "--rebuild"])
    with write_lock(tmp_path / "index"):
        assert "running `python -m bot index --rebuild`" in holder(tmp_path / "index")
