import json
import re
from pathlib import Path

import numpy as np
import pytest

from bot.config import ChunkingSettings
from bot.errors import IndexCorruptError, IndexMissingError
from bot.ingest.corpus import load_corpus, scan
from bot.search.build import build_index
from bot.search.embedder import pool_spans, unit_rows_f16
from bot.search.quantize import dequantize_rows, fixed_rotation, packed_dots, quantize_rows
from bot.search.staleness import Staleness, StaleReason, describe, stale_reasons
from bot.search.store import FORMAT_VERSION, Index

from .conftest import FakeEmbedder, write_corpus

CHUNKING = ChunkingSettings(target_tokens=20)


def build(seeds: Path, embedder: FakeEmbedder, previous: Index | None = None):
    docs, skipped = load_corpus(seeds)
    return build_index(docs, embedder, CHUNKING, previous=previous, skipped=skipped)


def test_build_save_load_round_trip(settings, fake_embedder):
    index, report = build(settings.seeds_dir, fake_embedder)
    assert sorted(report.embedded_documents) == ["apollo.txt", "bees.md", "nested/volcano.txt"]
    index.save(settings.index_dir)
    loaded = Index.load(settings.index_dir)
    assert len(loaded) == len(index) > 3
    np.testing.assert_array_equal(loaded.passage_vectors, index.passage_vectors)
    assert loaded.passage_vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(loaded.passage_vectors, axis=1), 1.0, rtol=1e-5)
    for i in range(len(loaded)):
        doc = loaded.passage_document(i)
        assert loaded.passage_text(i) in doc.text
        assert all(
            loaded.sentence_text(j) in loaded.passage_text(i) for j in loaded.sentence_ids(i)
        )
    folder = settings.index_dir / (settings.index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == "fake-embedder"
    assert manifest["dim"] == 64
    assert manifest["format_version"] == FORMAT_VERSION
    # Every word piece of every passage, in passage order, as packed signs (1 bit a dimension)
    # with float16 scales, under the index's fixed rotation.
    assert manifest["token_vectors"] is True
    tokens = loaded.tokens
    assert tokens.ranges.shape == (len(loaded), 2)
    assert tokens.bits.dtype == np.uint8
    assert tokens.bits.shape[1] == 64 // 8
    assert tokens.scales.shape == (len(tokens),)
    assert tokens.scales.dtype == np.float16
    assert int(tokens.ranges[-1, 1]) == len(tokens)
    np.testing.assert_array_equal(tokens.rotation, fixed_rotation(64))
    decoded = dequantize_rows((tokens.bits, tokens.scales), tokens.rotation)
    # scale * signs of a unit row has norm sqrt(dim) / |y|_1: at least 1, ~1.25 when spread out.
    norms = np.linalg.norm(decoded, axis=1)
    assert (norms >= 0.999).all() and (norms < 2).all()
    np.testing.assert_array_equal(tokens.ranges[1:, 0], tokens.ranges[:-1, 1])
    np.testing.assert_array_equal(tokens.bits, index.tokens.bits)
    assert {d["source"]: len(d["sha256"]) for d in manifest["documents"]} == {
        "apollo.txt": 64,
        "bees.md": 64,
        "nested/volcano.txt": 64,
    }


def test_titles_come_from_first_heading_or_line(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    assert [d.title for d in index.documents] == ["Apollo Program", "Honey Bees", "Volcanoes"]


def test_incremental_reindex_embeds_only_changed_and_drops_removed(settings, fake_embedder):
    first, _ = build(settings.seeds_dir, fake_embedder)
    (settings.seeds_dir / "bees.md").write_text(
        "# Bees\n\nBees dance to share where flowers are.", encoding="utf-8"
    )
    (settings.seeds_dir / "nested" / "volcano.txt").unlink()
    fake_embedder.calls.clear()
    second, report = build(settings.seeds_dir, fake_embedder, previous=first)
    assert report.embedded_documents == ["bees.md"]
    assert report.reused_documents == ["apollo.txt"]
    assert report.removed_documents == ["nested/volcano.txt"]
    # one batch of passages and one of sentences, for the changed document only
    assert sum(fake_embedder.calls) == report.embedded_passages + report.embedded_sentences
    assert report.embedded_passages == 1
    fresh, _ = build(settings.seeds_dir, FakeEmbedder())
    np.testing.assert_array_equal(second.passages.rows, fresh.passages.rows)
    np.testing.assert_allclose(second.passage_vectors, fresh.passage_vectors)
    np.testing.assert_allclose(second.sentence_vectors, fresh.sentence_vectors)
    np.testing.assert_array_equal(second.tokens.ranges, fresh.tokens.ranges)
    np.testing.assert_array_equal(second.tokens.bits, fresh.tokens.bits)
    np.testing.assert_array_equal(second.tokens.scales, fresh.tokens.scales)


def test_token_rotation_is_orthogonal_and_fixed():
    r = fixed_rotation(384)
    np.testing.assert_allclose(r @ r.T, np.eye(384), atol=1e-5)
    np.testing.assert_array_equal(r, fixed_rotation(384))


def test_the_rotation_is_made_once_and_shared_read_only():
    # Every build and live update used to redo its QR (seconds under load); the one shared
    # matrix must then be safe from a caller writing into it.
    assert fixed_rotation(16) is fixed_rotation(16)
    with pytest.raises(ValueError):
        fixed_rotation(16)[0, 0] = 1.0


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_quantized_rows_round_trip_within_the_one_bit_bound():
    # The error of 1 bit a dimension: a unit row y (turned) comes back as sign(y) / |y|_1,
    # whose cosine to y is |y|_1 / sqrt(dim): sqrt(2 / pi) ~ 0.80 for a spread-out row.
    rng = np.random.default_rng(0)
    dim = 384
    rotation = fixed_rotation(dim)
    gauss = _unit(rng.standard_normal((500, dim)))
    # Rows with a few huge coordinates (as the model's outlier dimensions): the turn spreads them.
    spiky = _unit(np.eye(dim)[:50] + 0.01 * rng.standard_normal((50, dim)))
    rows = np.concatenate([gauss, spiky])
    bits, scales = quantize_rows(rows, rotation)
    assert bits.dtype == np.uint8 and bits.shape == (550, dim // 8)
    assert scales.dtype == np.float16 and scales.shape == (550,)
    back = dequantize_rows((bits, scales), rotation)
    cos = (back * rows).sum(axis=1) / np.linalg.norm(back, axis=1)
    assert cos.min() > 0.74 and 0.78 < cos.mean() < 0.82
    # A decoded row's dot product with its own original is kept (1, as for int8 rows), so
    # MaxSim of a question word found verbatim stays 1 (to float16's precision).
    np.testing.assert_allclose((back * rows).sum(axis=1), 1.0, atol=2e-3)
    # Dot products with other unit vectors (a question's word pieces) move little, both ways.
    q = _unit(rng.standard_normal((20, dim)))
    error = back @ q.T - rows @ q.T
    assert np.abs(error).max() < 0.2 and abs(error.mean()) < 0.01
    # MaxSim still finds each question word's own piece among 500 others.
    assert (np.argmax(gauss[:20] @ back.T, axis=1) == np.arange(20)).all()


def test_quantized_rows_of_nothing_and_of_zeros():
    rotation = fixed_rotation(12)  # not a multiple of 8: the last byte is padding
    bits, scales = quantize_rows(np.zeros((0, 12)), rotation)
    assert bits.shape == (0, 2) and scales.shape == (0,)
    bits, scales = quantize_rows(np.zeros((2, 12)), rotation)
    assert bits.shape == (2, 2) and (scales == 0).all()
    assert not dequantize_rows((bits, scales), rotation).any()


def test_token_vectors_take_dim_over_8_plus_2_bytes_on_disk(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    folder = settings.index_dir / (settings.index_dir / "CURRENT").read_text().strip()
    t = len(index.tokens)
    assert t > 50
    header = 128  # an .npy header
    stored = sum(
        (folder / f"token_{name}.npy").stat().st_size - header for name in ("vectors", "scales")
    )
    assert stored == t * (64 // 8 + 2)  # 1 bit a dimension and a float16 scale


def test_an_index_without_token_vectors_loads_and_searches(settings):
    from bot.config import RetrievalSettings
    from bot.search.retrieval import Retriever

    chunking = ChunkingSettings(target_tokens=20, token_vectors=False)
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, FakeEmbedder(), chunking)
    assert index.params.token_vectors is False and len(index.tokens) == 0
    index.save(settings.index_dir)
    loaded = Index.load(settings.index_dir)
    retriever = Retriever(loaded, FakeEmbedder(), RetrievalSettings())
    assert not retriever.uses_tokens
    hits = retriever.search("Who walked on the lunar surface?", 2)
    assert "Armstrong" in loaded.passage_text(hits[0].passage)


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


def test_an_index_from_older_readers_is_stale_for_a_rebuild(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    folder = _live_folder(settings.index_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["reader_version"]  # as written before the readers' version was recorded
    (folder / "manifest.json").write_text(json.dumps(manifest))
    reasons = _stale(Index.load(settings.index_dir), scan(settings.seeds_dir))
    assert [r.kind for r in reasons] == [Staleness.READERS] and reasons[0].rebuilds_all


def test_bad_files_are_skipped_with_warning_and_not_stale(tmp_path, fake_embedder, caplog):
    seeds = write_corpus(tmp_path / "seeds")
    (seeds / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (seeds / "empty.md").write_text("  \n", encoding="utf-8")
    index, _ = build(seeds, fake_embedder)
    assert "latin1.txt" in caplog.text and "not valid UTF-8" in caplog.text
    assert "empty.md" in caplog.text and "empty" in caplog.text
    assert len(index.documents) == 3
    assert _stale(index, scan(seeds)) == []


def test_missing_index_is_named(tmp_path):
    with pytest.raises(IndexMissingError, match="python -m bot index"):
        Index.load(tmp_path / "nothing")


def _live_folder(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def test_truncated_npy_is_reported_as_corrupt(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    path = _live_folder(settings.index_dir) / "passage_vectors.npy"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(IndexCorruptError, match="damaged"):
        Index.load(settings.index_dir)


def test_garbage_manifest_is_reported_as_corrupt(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    (_live_folder(settings.index_dir) / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError):
        Index.load(settings.index_dir)


def test_interrupted_save_leaves_previous_index_usable(settings, fake_embedder, monkeypatch):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    before = len(Index.load(settings.index_dir))

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.search.lexical.LexicalIndex.save", boom)
    (settings.seeds_dir / "apollo.txt").write_text("Only one sentence now.", encoding="utf-8")
    changed, _ = build(settings.seeds_dir, fake_embedder, previous=index)
    with pytest.raises(KeyboardInterrupt):
        changed.save(settings.index_dir)
    assert len(Index.load(settings.index_dir)) == before
    assert not [p for p in settings.index_dir.iterdir() if p.name.startswith(".tmp-")]


def test_save_replaces_old_versions(settings, fake_embedder):
    index, _ = build(settings.seeds_dir, fake_embedder)
    index.save(settings.index_dir)
    index.save(settings.index_dir)
    versions = [p for p in settings.index_dir.iterdir() if p.is_dir()]
    assert len(versions) == 1


def test_a_paragraph_first_line_gives_its_opening_words_as_title():
    from bot.ingest.corpus import derive_title

    paragraph = (
        "On May 13, the band returned with its fifth studio album, " + "and more words " * 20
    )
    title = derive_title(paragraph + "\n\nNext paragraph.", "001_c1d24ae85ae90f73.txt")
    assert title == "On May 13, the band returned with its fifth studio album, and more words and…"
    assert len(title) <= 81
    assert derive_title("#tag line\n", "notes/x.md") == "#tag line"
    assert derive_title("x" * 300, "dir/f.txt") == "x" * 80 + "…"


def test_word_pieces_embedded_in_slices_match_one_call(settings, fake_embedder, monkeypatch):
    whole, _ = build(settings.seeds_dir, fake_embedder)
    monkeypatch.setattr("bot.search.build.TOKEN_SLICE", 2)
    sliced, _ = build(settings.seeds_dir, FakeEmbedder())
    assert len(sliced) > 2  # more than one slice
    np.testing.assert_array_equal(sliced.tokens.ranges, whole.tokens.ranges)
    np.testing.assert_array_equal(sliced.tokens.bits, whole.tokens.bits)
    np.testing.assert_allclose(sliced.passage_vectors, whole.passage_vectors)


def test_a_large_word_piece_store_is_named_with_the_setting(settings, monkeypatch, caplog):
    monkeypatch.setattr("bot.search.build.TOKEN_WARN_BYTES", 10)
    build(settings.seeds_dir, FakeEmbedder())
    assert "chunking.token_vectors = false" in caplog.text


class SpanFake(FakeEmbedder):
    """A FakeEmbedder that pools span vectors from its word vectors (SpanEmbedder)."""

    def embed_spans(self, texts, spans, *, progress=False):
        vectors, pieces, pooled = self.embed(texts), [], []
        for text, text_spans in zip(texts, spans, strict=True):
            words = list(re.finditer(r"[a-z0-9]+", text.lower())) or [None]
            raw = np.stack([self._vec(w.group() if w else "") for w in words])
            offsets = np.array([[w.start(), w.end()] if w else [0, 0] for w in words])
            pieces.append(unit_rows_f16(raw))
            pooled.append(pool_spans(raw, offsets, text_spans))
        return vectors, pieces, pooled


def test_sentence_vectors_are_pooled_from_the_passage_pass(settings, monkeypatch):
    monkeypatch.setattr("bot.search.build.CONTEXT_WEIGHT", 0.0)
    embedder = SpanFake()
    index, report = build(settings.seeds_dir, embedder)
    # One model pass over the passages, none over the sentences.
    assert sum(embedder.calls) == len(index) == report.embedded_passages
    assert report.embedded_sentences == len(index.sentences) > len(index)
    # The fake's vector of a text is the sum of its words' vectors, so a sentence pooled from
    # its words in the passage equals the sentence embedded alone: the spans line up.
    alone = FakeEmbedder().embed([index.sentence_text(j) for j in range(len(index.sentences))])
    np.testing.assert_allclose(index.sentence_vectors, alone, atol=1e-5)
    assert len(index.tokens) > 0  # token vectors still kept from the same pass


def test_pooled_sentence_vectors_lean_away_from_their_passage(settings):
    # Tokens in context carry their passage's topic; the build takes a share of the passage
    # vector off each pooled sentence, so sentences of one passage are told apart again:
    # each is further from its passage than the same sentence embedded alone.
    index, _ = build(settings.seeds_dir, SpanFake())
    alone = FakeEmbedder().embed([index.sentence_text(j) for j in range(len(index.sentences))])
    checked = 0
    for i in range(len(index)):
        passage = index.passage_vectors[i]
        for j in index.sentence_ids(i):
            holders = [p for p in range(len(index)) if j in index.sentence_ids(p)]
            if holders == [i] and alone[j] @ passage < 0.999:  # in this passage only
                assert index.sentence_vectors[j] @ passage < alone[j] @ passage - 0.01
                np.testing.assert_allclose(np.linalg.norm(index.sentence_vectors[j]), 1, 1e-5)
                checked += 1
    assert checked >= 3


def test_packed_dots_are_the_dots_of_the_decoded_rows():
    rng = np.random.default_rng(1)
    rotation = fixed_rotation(20)
    rows = _unit(rng.standard_normal((30, 20)))
    q = _unit(rng.standard_normal((3, 20)))
    quantized = quantize_rows(rows, rotation)
    np.testing.assert_allclose(
        packed_dots(quantized, q @ rotation), dequantize_rows(quantized, rotation) @ q.T, atol=1e-5
    )
