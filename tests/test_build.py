"""Building an index: chunking, incremental reuse, token vectors in slices, pooled sentences."""

import re
from pathlib import Path

import numpy as np

from bot.config import ChunkingSettings
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index
from bot.search.embedder import pool_spans, unit_rows_f16
from bot.search.store import Index

from .conftest import FakeEmbedder

CHUNKING = ChunkingSettings(target_tokens=20)


def build(seeds: Path, embedder: FakeEmbedder, previous: Index | None = None):
    docs, skipped = load_corpus(seeds)
    return build_index(docs, embedder, CHUNKING, previous=previous, skipped=skipped)


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


def test_a_paragraph_first_line_gives_its_opening_words_as_title():
    from bot.ingest.corpus import derive_title

    paragraph = (
        "On May 13, the band returned with its fifth studio album, " + "and more words " * 20
    )
    title = derive_title(paragraph + "\n\nNext paragraph.", "001_c1d24ae85ae90f73.txt")
    assert title == "On May 13, the band returned with its fifth studio album, and more words and…"
    assert derive_title("#tag line\n", "notes/x.md") == "#tag line"
    assert derive_title("x" * 300, "dir/f.txt") == "x" * 80 + "…"


def test_token_vectors_embedded_in_slices_match_one_call(settings, fake_embedder, monkeypatch):
    whole, _ = build(settings.seeds_dir, fake_embedder)
    monkeypatch.setattr("bot.search.build.TOKEN_SLICE", 2)
    sliced, _ = build(settings.seeds_dir, FakeEmbedder())
    assert len(sliced) > 2  # more than one slice
    np.testing.assert_array_equal(sliced.tokens.ranges, whole.tokens.ranges)
    np.testing.assert_array_equal(sliced.tokens.bits, whole.tokens.bits)
    np.testing.assert_allclose(sliced.passage_vectors, whole.passage_vectors)


def test_a_large_token_store_is_named_with_the_setting(settings, monkeypatch, caplog):
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


def test_the_bm25_built_beside_the_model_is_the_one_of_the_passages(settings, fake_embedder):
    from bot.search.lexical import LexicalIndex

    index, _ = build(settings.seeds_dir, fake_embedder)
    again = LexicalIndex.build([index.lexical_text(i) for i in range(len(index))])
    for query in ("Which volcano is in Sicily?", "honey bees colony", "Apollo rocket Moon"):
        np.testing.assert_array_equal(index.lexical.scores(query), again.scores(query))
        phrases = index.lexical.phrase_scores(query)
        np.testing.assert_array_equal(phrases, again.phrase_scores(query))
    assert index.lexical.scores("Which volcano is in Sicily?").max() > 0


def test_token_rows_quantized_together_equal_one_passage_at_a_time(monkeypatch):
    from bot.search.build import quantize_each
    from bot.search.quantize import fixed_rotation, quantize_rows

    monkeypatch.setattr("bot.search.build.QUANTIZE_ROWS", 10)  # several products, one too big
    rng = np.random.default_rng(3)
    pieces = [unit_rows_f16(rng.standard_normal((n, 64))) for n in (3, 0, 25, 4, 6)]
    rotation = fixed_rotation(64)
    together = quantize_each(pieces, rotation)
    assert len(together) == len(pieces)
    for got, piece in zip(together, pieces, strict=True):
        want = quantize_rows(piece, rotation)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_documents_still_being_read_are_embedded_in_waves_to_the_same_index(settings, monkeypatch):
    docs, _ = load_corpus(settings.seeds_dir)
    whole, whole_report = build_index(docs, SpanFake(), CHUNKING)
    monkeypatch.setattr("bot.search.build.WAVE", 2)
    embedder, plans = SpanFake(), []
    waved, report = build_index(
        iter(docs), embedder, CHUNKING, on_plan=lambda p, s: plans.append((p, s))
    )
    assert len(embedder.calls) > 1  # the model ran before the last document came
    assert sum(embedder.calls) == report.embedded_passages == whole_report.embedded_passages
    assert report.embedded_sentences == whole_report.embedded_sentences
    assert len(plans) == 1 and plans[0][0] < report.embedded_passages  # the last wave only
    np.testing.assert_array_equal(waved.passages.rows, whole.passages.rows)
    np.testing.assert_array_equal(waved.sentences.rows, whole.sentences.rows)
    np.testing.assert_allclose(waved.passage_vectors, whole.passage_vectors)
    np.testing.assert_allclose(waved.sentence_vectors, whole.sentence_vectors, atol=1e-6)
    np.testing.assert_array_equal(waved.tokens.bits, whole.tokens.bits)
    np.testing.assert_array_equal(waved.tokens.ranges, whole.tokens.ranges)
    assert [d.source for d in waved.documents] == [d.source for d in docs]


class _Recording(FakeEmbedder):
    """Keeps every text it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts, *, progress=False):
        self.texts.extend(texts)
        return super().embed(texts, progress=progress)


SECTIONED = (
    "# Guide\n\n## Installing on Windows\n\n"
    + " ".join(f"Step {i} of the setup takes a while to finish." for i in range(6))
    + "\n\n"
    + " ".join(f"Then reboot and check item {i} again." for i in range(6))
    + "\n"
)


def test_a_passage_is_embedded_under_the_headings_it_sits_in(tmp_path):
    (tmp_path / "guide.md").write_text(SECTIONED, encoding="utf-8")
    docs, _ = load_corpus(tmp_path)
    embedder = _Recording()
    index, _ = build_index(docs, embedder, CHUNKING)
    later = [i for i in range(len(index)) if "Windows" not in index.passage_text(i)]
    assert later, "the section spans several passages"
    embedded = set(embedder.texts)
    for i in later:
        # The title, then the heading it sits under; the title's own heading said once.
        assert "Guide › Installing on Windows\n" + index.passage_text(i) in embedded
        # BM25 counts a heading's words in the passage that holds it only.
        assert index.lexical_text(i) == "Guide\n" + index.passage_text(i)
    first = next(i for i in range(len(index)) if "Windows" in index.passage_text(i))
    assert "Guide\n" + index.passage_text(first) in embedded  # it holds its own heading
    without, _ = build_index(docs, _Recording(), ChunkingSettings(20, embed_sections=False))
    assert index.params.embed_sections and not without.params.embed_sections
    assert not np.allclose(index.passage_vectors[later], without.passage_vectors[later])
    np.testing.assert_allclose(index.passage_vectors[first], without.passage_vectors[first])


def test_headings_that_do_not_fit_the_window_with_the_passage_are_left_out(tmp_path):
    # FakeEmbedder counts words and holds 40 (38 with [CLS] and [SEP]); passages of up to
    # 30 words leave no room for a long heading path: its outer headings go first.
    deep = "# Guide\n\n## " + "Very long outer heading words " * 3 + "\n\n### Inner part\n\n"
    body = " ".join(f"Sentence number {i} has six words." for i in range(12))
    (tmp_path / "deep.md").write_text(deep + body + "\n", encoding="utf-8")
    docs, _ = load_corpus(tmp_path)
    embedder = _Recording()
    index, _ = build_index(docs, embedder, ChunkingSettings(target_tokens=30))
    passages = embedder.texts[: len(index)]
    assert all(len(t.split()) <= embedder.max_tokens - 2 for t in passages)
    assert any(t.startswith("Guide › Inner part\n") for t in passages)  # the outer one left out


def test_a_passage_opening_with_a_heading_is_not_put_under_its_sibling(tmp_path):
    from bot.ingest.chunking import passage_lead

    src = "# Guide\n\n## Setup\n\n### Linux\n\nUse apt.\n\n### Windows\n\nUse the installer.\n"
    (tmp_path / "g.md").write_text(src, encoding="utf-8")
    docs, _ = load_corpus(tmp_path)
    doc = docs[0]
    windows = doc.text.index("Windows")
    assert passage_lead(doc, windows, sections=True) == "Guide › Setup"
    assert passage_lead(doc, doc.text.index("Use the"), sections=True) == "Guide › Setup › Windows"
    assert passage_lead(doc, doc.text.index("Use apt"), sections=True) == "Guide › Setup › Linux"
