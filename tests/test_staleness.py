"""Why an index is stale: typed reasons, one line for people."""

import json

from bot.config import ChunkingSettings
from bot.ingest.chunking import CHUNKING_VERSION
from bot.ingest.corpus import scan
from bot.search.staleness import Staleness, StaleReason, describe, stale_reasons
from bot.search.store import Index

from .conftest import write_corpus
from .test_build import CHUNKING, build
from .test_store import _live_folder


def _stale(index, files, model="fake-embedder", chunking=CHUNKING):
    return stale_reasons(index, files, model=model, chunking=chunking, token_vectors=True)


def test_staleness_names_new_changed_removed_and_settings(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    assert _stale(index, scan(settings.seeds_dir)) == []
    (settings.seeds_dir / "apollo.txt").write_text("Changed.", encoding="utf-8")
    (settings.seeds_dir / "new.txt").write_text("New doc.", encoding="utf-8")
    (settings.seeds_dir / "bees.md").unlink()
    wider = ChunkingSettings(target_tokens=40)
    reasons = _stale(index, scan(settings.seeds_dir), model="other-model", chunking=wider)
    assert reasons == [
        StaleReason(Staleness.MODEL, "'fake-embedder' -> 'other-model'"),
        StaleReason(Staleness.SETTINGS, "target_tokens 20 -> 40"),
        StaleReason(Staleness.CHANGED, "apollo.txt"),
        StaleReason(Staleness.NEW, "new.txt"),
        StaleReason(Staleness.REMOVED, "bees.md"),
    ]
    assert [r.rebuilds_all for r in reasons] == [True, True, False, False, False]
    assert describe(reasons) == (
        "model changed ('fake-embedder' -> 'other-model'); chunking settings changed "
        "(target_tokens 20 -> 40); changed file apollo.txt and 2 more"
    )


def _saved_without(settings, fake_embedder, key: str) -> Index:
    """The seeds' index saved and loaded again with key taken out of its manifest, as an
    older version wrote it before it recorded that key."""
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    folder = _live_folder(settings.index_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest[key]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return Index.load(settings.index_dir)


def test_an_index_from_older_readers_is_stale_for_a_rebuild(settings, fake_embedder):
    old = _saved_without(settings, fake_embedder, "reader_version")
    reasons = _stale(old, scan(settings.seeds_dir))
    assert [r.kind for r in reasons] == [Staleness.READERS] and reasons[0].rebuilds_all


def test_an_index_cut_by_an_older_sentence_splitter_is_rebuilt(settings, fake_embedder):
    old = _saved_without(settings, fake_embedder, "chunking_version")
    assert old.params.chunking_version == 1
    reasons = _stale(old, scan(settings.seeds_dir))
    assert reasons == [StaleReason(Staleness.CHUNKING, f"version 1 -> {CHUNKING_VERSION}")]
    assert reasons[0].rebuilds_all


def test_an_index_from_before_section_headings_were_embedded_is_rebuilt(settings, fake_embedder):
    old = _saved_without(settings, fake_embedder, "embed_sections")
    assert not old.params.embed_sections
    reasons = _stale(old, scan(settings.seeds_dir))
    assert reasons == [StaleReason(Staleness.SETTINGS, "embed_sections False -> True")]
    assert reasons[0].rebuilds_all


def test_bad_files_are_skipped_with_warning_and_not_stale(tmp_path, fake_embedder, caplog):
    seeds = write_corpus(tmp_path / "seeds")
    (seeds / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (seeds / "empty.md").write_text("  \n", encoding="utf-8")
    index, _ = build(seeds, fake_embedder)
    assert "latin1.txt" in caplog.text and "not valid UTF-8" in caplog.text
    assert "empty.md" in caplog.text and "empty" in caplog.text
    assert len(index.documents) == 3
    assert _stale(index, scan(seeds)) == []
