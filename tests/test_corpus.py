"""Reading the seeds folder: costly formats parsed in a process pool, in order, small folders
and cached files read here."""

import pytest

from bot.errors import CorpusError
from bot.ingest.corpus import content_hash, load_corpus, read_corpus


def write_pages(seeds, n):
    seeds.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (seeds / f"page{i:02}.html").write_text(
            f"<html><head><title>Page {i}</title></head><body><main><h1>Page {i}</h1>"
            f"<p>Paragraph {i} of the pooled pages says something.</p></main></body></html>",
            encoding="utf-8",
        )
    (seeds / "notes.txt").write_text("Notes\n\nPlain text is read here.", encoding="utf-8")
    (seeds / "broken.pdf").write_bytes(b"not a pdf at all")


def test_costly_files_are_parsed_in_a_pool_in_order(tmp_path, monkeypatch):
    seeds = tmp_path / "seeds"
    write_pages(seeds, 5)
    here, here_skipped = load_corpus(seeds)  # 6 costly files: under POOL_FROM, read here
    monkeypatch.setattr("bot.ingest.corpus.POOL_FROM", 3)
    monkeypatch.setattr("bot.ingest.corpus.os.cpu_count", lambda: 4)
    stream = read_corpus(seeds)
    assert stream.parallel
    pooled = list(stream)
    assert pooled == here  # same documents, same order
    assert stream.skipped == here_skipped == {"broken.pdf": content_hash(b"not a pdf at all")}


def test_few_or_cached_files_start_no_pool(tmp_path, monkeypatch):
    seeds, cache = tmp_path / "seeds", tmp_path / "cache"
    write_pages(seeds, 5)

    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started")

    monkeypatch.setattr("bot.ingest.corpus.ProcessPoolExecutor", no_pool)
    stream = read_corpus(seeds, cache_dir=cache)
    assert not stream.parallel  # 6 costly files, fewer than POOL_FROM
    docs = list(stream)
    monkeypatch.setattr("bot.ingest.corpus.POOL_FROM", 3)
    monkeypatch.setattr("bot.ingest.corpus.os.cpu_count", lambda: 4)
    again = read_corpus(seeds, cache_dir=cache)
    assert not again.parallel  # every file's extraction is cached now
    assert list(again) == docs
    monkeypatch.setattr("bot.ingest.corpus.os.cpu_count", lambda: 1)
    assert not read_corpus(seeds, cache_dir=tmp_path / "other").parallel  # one core


def test_a_folder_with_nothing_readable_is_an_error_at_the_end(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "broken.pdf").write_bytes(b"not a pdf")
    stream = read_corpus(seeds)
    with pytest.raises(CorpusError, match="No readable document"):
        list(stream)
    assert list(stream.skipped) == ["broken.pdf"]
