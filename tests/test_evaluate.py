import json

from bot.evaluation.data import read_jsonl, write_jsonl
from bot.evaluation.memo import cached_index
from bot.evaluation.run import Row, write_details
from bot.ingest.corpus import Document


def test_cached_index_is_rebuilt_when_a_reader_extracts_other_text(settings, fake_embedder):
    file_hash = "ab" * 32  # the same file bytes, read by two versions of a reader
    old = Document("a.pdf", "A", "Bees make honey from nectar.", file_hash)
    new = Document("a.pdf", "A", "Bees make honey from nectar in summer.", file_hash)
    first = cached_index([old], fake_embedder, settings, progress=False)
    again = cached_index([old], fake_embedder, settings, progress=False)
    assert again.documents[0].text == first.documents[0].text
    fresh = cached_index([new], fake_embedder, settings, progress=False)
    assert fresh.documents[0].text == new.text


def test_write_details_writes_one_line_per_question(tmp_path):
    row = Row(
        ranked_docs=["a.md", "b.md"],
        gold=["a.md"],
        answers=["honey"],
        answerable=True,
        answered=True,
        top_passage="Bees make honey.",
        quote="Bees make honey.",
        quote_sentences=1,
        question="What do bees make?",
        results=[
            {"source": "a.md", "quote": "Bees make honey.", "quote_start": 0, "quote_end": 16}
        ],
    )
    path = tmp_path / "d" / "details.jsonl"
    write_details(path, [row, row])
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 2
    assert lines[0]["answer_in_quote"] is True and lines[0]["results"][0]["source"] == "a.md"
    assert not list(path.parent.glob("*.tmp"))


def test_memo_embedder_embeds_each_text_once_across_runs(tmp_path, fake_embedder):
    from bot.evaluation.memo import MemoEmbedder

    first = MemoEmbedder(fake_embedder, tmp_path)
    a = first.embed(["Bees make honey.", "Etna is a volcano.", "Bees make honey."])
    assert fake_embedder.calls[-1] == 2
    calls = len(fake_embedder.calls)
    again = MemoEmbedder(fake_embedder, tmp_path)  # a later run: read back from disk
    b = again.embed(["Etna is a volcano.", "Bees make honey.", "Wax comes from bees."])
    assert fake_embedder.calls[calls:] == [1]
    assert (b[0] == a[1]).all() and (b[1] == a[0]).all()
    assert (b[2] == fake_embedder.embed(["Wax comes from bees."])[0]).all()


def test_memo_of_a_span_embedder_pools_sentences_as_a_build_does_and_keeps_passes(tmp_path):
    import numpy as np

    from bot.evaluation.memo import memo_embedder
    from bot.search.embedder import SpanEmbedder
    from tests.test_build import SpanFake

    inner = SpanFake()
    memo = memo_embedder(inner, tmp_path)
    # A build takes the pooled path only for a SpanEmbedder: the memo must stay one.
    assert isinstance(memo, SpanEmbedder)
    texts = ["Bees make honey. Wax too.", "Etna is a volcano."]
    spans = [[(0, 16), (17, 25)], [(0, 18)]]
    first = memo.embed_spans(texts, spans)
    assert inner.calls == [2]
    again = memo_embedder(inner, tmp_path).embed_spans(texts[::-1], spans[::-1])  # from disk
    assert inner.calls == [2]
    np.testing.assert_array_equal(again[0], first[0][::-1])
    for a, b in ((again[1], first[1][::-1]), (again[2], first[2][::-1])):
        assert all((x == y).all() for x, y in zip(a, b, strict=True))
    memo.embed_spans(texts, [[(0, 16)], [(0, 18)]])  # other spans: the model runs again
    assert inner.calls == [2, 1]


def test_memo_of_a_plain_embedder_is_no_span_embedder(tmp_path, fake_embedder):
    from bot.evaluation.memo import memo_embedder
    from bot.search.embedder import SpanEmbedder

    assert not isinstance(memo_embedder(fake_embedder, tmp_path), SpanEmbedder)


def test_withheld_passages_leave_retrieval_and_come_back(settings, fake_embedder):
    from bot.evaluation.withheld import passages_withheld
    from bot.ingest.corpus import load_corpus
    from bot.search.build import build_index
    from bot.search.retrieval import Retriever

    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    retriever = Retriever(index, fake_embedder, settings.retrieval)
    question = "Which volcano is in Sicily?"
    before = [h.passage for h in retriever.search(question, 3)]
    with passages_withheld(index) as hidden:
        hidden[:] = [before[0]]
        during = [h.passage for h in retriever.search(question, 3)]
        assert before[0] not in during and during
        assert index.lexical.scores(question)[before[0]] == 0
    assert [h.passage for h in retriever.search(question, 3)] == before


def test_write_jsonl_keeps_text_as_written_and_reads_back(tmp_path):
    rows = [{"question": "Où est le cache ?", "label": 1}, {"passage": "naïve › café"}]
    path = tmp_path / "pairs" / "rows.jsonl"
    write_jsonl(path, rows)
    assert "Où est le cache ?" in path.read_text(encoding="utf-8")  # not \u escapes
    assert read_jsonl(path) == rows
    assert not list(path.parent.glob("*.tmp"))


def test_question_rows_read_one_gold_or_answer_string_as_a_list(tmp_path):
    """A question file may give one gold file or answer as a string: read as a list it would
    be its characters (every quote with an "e" in it holding the answer, no gold file found)."""
    import pytest

    from bot.errors import BotError
    from bot.evaluation.run import question_rows

    path = tmp_path / "q.jsonl"
    write_jsonl(
        path,
        [
            {"question": "Where?", "gold": "docs/faq.md", "answers": "the cache"},
            {"question": "When?", "gold": ["a.md", "b.md"], "answers": ["now", "then"]},
            {"question": "Why?"},
        ],
    )
    rows = question_rows(path)
    assert [r.get("gold") for r in rows] == [["docs/faq.md"], ["a.md", "b.md"], None]
    assert [r.get("answers") for r in rows] == [["the cache"], ["now", "then"], None]
    write_jsonl(path, [{"question": "Where?"}, {"question": "How?", "answers": [3]}])
    with pytest.raises(BotError, match="line 2: answers must be a string or a list"):
        question_rows(path)
