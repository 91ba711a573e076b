"""Index builds show one labelled bar for the whole build; the model's own bars stay off."""

import io
import logging

from tqdm import tqdm

from bot.app import rebuild
from bot.cli import main

from .test_cli import write_config


def test_one_labelled_bar_counts_the_whole_build(settings, fake_embedder, monkeypatch):
    out = io.StringIO()

    class Shown(tqdm):  # as on a terminal, written where the test can read it
        def __init__(self, *args, **kwargs):
            kwargs.update(file=out, disable=False, mininterval=0)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr("bot.search.progress.tqdm", Shown)
    asked: list[bool] = []
    embedded = 0  # texts the model was given: what the bar must count
    inner = fake_embedder.embed

    def embed(texts, *, progress=False):
        nonlocal embedded
        asked.append(progress)
        embedded += len(texts)
        return inner(texts, progress=progress)

    fake_embedder.embed = embed
    _, report = rebuild(settings, fake_embedder, progress=True)
    shown = out.getvalue()
    total = embedded
    assert "Indexing seeds/: reading files" in shown and "3/3" in shown
    assert f"embedding {report.embedded_passages} passages" in shown
    assert total > report.embedded_passages  # passages and their sentences
    assert f"{total}/{total}" in shown  # every text embedded counted, and the total reached
    # every drawing of the embedding phase carries its own label and unit, the first included
    drawn = [line for line in shown.split("\r") if f"/{total} " in line]
    assert drawn and all("embedding" in line and "texts/s" in line for line in drawn)
    assert asked and not any(asked)  # the model was never asked for its own bars


def test_a_first_start_is_not_a_warning(tmp_path, settings, use_fake, capsys, caplog):
    cfg = write_config(tmp_path)
    with caplog.at_level(logging.INFO):
        assert main(["ask", "Where is Mount Etna?", "--config", cfg]) == 0
    # The bot's own records: a library's (asyncio collecting another test's task) is not
    # what a first start says.
    ours = [r for r in caplog.records if r.name == "bot" or r.name.startswith("bot.")]
    assert not [r for r in ours if r.levelno >= logging.WARNING]
    assert any("No index yet" in r.getMessage() for r in caplog.records)
