from itertools import pairwise

import pytest

from bot.ingest import chunking
from bot.ingest.chunking import chunk_document, split_sentences
from bot.ingest.corpus import Document


def count_words(texts):
    return [len(t.split()) for t in texts]


def doc(text: str) -> Document:
    return Document(source="d.txt", title="T", text=text, sha256="x")


def test_sentences_are_exact_substrings_with_offsets():
    text = (
        "Title line\n\nDr. Smith went to Washington. "
        "He arrived at 5 p.m. on Monday!  Then he left.\n"
    )
    spans = split_sentences(text)
    pieces = [text[s.start : s.end] for s in spans]
    assert pieces == [
        "Title line",
        "Dr. Smith went to Washington.",
        "He arrived at 5 p.m. on Monday!",
        "Then he left.",
    ]


def test_passages_fit_budget_and_overlap_by_one_sentence():
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(12))
    passages = chunk_document(0, doc(text), count_words, budget=30, target=20, overlap=1)
    assert len(passages) > 2
    for p in passages:
        body = text[p.start : p.end]
        assert len(body.split()) <= 30
        assert body.startswith("Sentence") and body.endswith("words.")
    for a, b in pairwise(passages):
        assert a.sentences[-1] == b.sentences[0]
    covered = {s for p in passages for s in p.sentences}
    assert len(covered) == 12


def test_overlong_sentence_is_split_not_truncated():
    words = [f"w{i}" for i in range(100)]
    text = " ".join(words) + "."
    passages = chunk_document(0, doc(text), count_words, budget=30, target=20, overlap=0)
    assert all(len(text[p.start : p.end].split()) <= 30 for p in passages)
    rebuilt = " ".join(text[p.start : p.end] for p in passages)
    assert rebuilt == text


def test_title_tokens_shrink_room():
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(6))
    passages = chunk_document(
        0, doc(text), count_words, budget=30, target=30, overlap=0, title_tokens=10
    )
    # 30 - 10 leaves room for two seven-word sentences (not the four 30 holds): 3 passages
    spans = [(s.start, s.end) for p in passages for s in p.sentences]
    assert len(passages) == 3 and len(spans) == len(set(spans)) == 6  # every sentence, once
    assert all(len(text[p.start : p.end].split()) <= 20 for p in passages)


def test_unicode_offsets_survive():
    text = "Kendrick’s “We Cry Together” is track #8. Taylour Paige — actress — co-stars."
    passages = chunk_document(0, doc(text), count_words, budget=100, target=100, overlap=0)
    assert [text[s.start : s.end] for s in passages[0].sentences] == [
        "Kendrick’s “We Cry Together” is track #8.",
        "Taylour Paige — actress — co-stars.",
    ]


def test_a_line_break_inside_a_sentence_does_not_end_it():
    # Wikipedia's subscripts come out as line breaks ("O\n2"); pysbd ended a sentence at each.
    text = "Oxygen is the diatomic gas O\n2 in air. Ozone is O\n3 instead."
    assert [text[s.start : s.end] for s in split_sentences(text)] == [
        "Oxygen is the diatomic gas O\n2 in air.",
        "Ozone is O\n3 instead.",
    ]


def test_a_period_inside_a_word_does_not_end_a_sentence():
    # sentencex ends one at a period before a capital, space or not: a dotted name was cut in
    # two and its first half quoted as a sentence.
    text = (
        "Calling set_num_threads() above numba.config.NUMBA_NUM_THREADS is an error. "
        "Copy it to ~/.Brewfile first.\n\nUse os.path.Join. 先读。再写。"
    )
    assert [text[s.start : s.end] for s in split_sentences(text)] == [
        "Calling set_num_threads() above numba.config.NUMBA_NUM_THREADS is an error.",
        "Copy it to ~/.Brewfile first.",
        "Use os.path.Join.",
        "先读。",  # a script written without spaces ends its sentences with none
        "再写。",
    ]


def test_wide_spaces_keep_exact_offsets():
    # A capital, a no-break space and a period made sentencex 1.0.32 panic.
    text = "He met A\u00a0. Smith at 5\u202fp.m. Then\u00a0he left.\u2003Bye."
    assert [text[s.start : s.end] for s in split_sentences(text)] == [
        "He met A\u00a0. Smith at 5\u202fp.m.",  # the text's own characters, not spaces
        "Then\u00a0he left.",
        "Bye.",
    ]


def test_a_splitter_crash_keeps_the_paragraph_whole(monkeypatch):
    class PanicException(BaseException):  # how pyo3 raises a Rust panic
        pass

    def panics(language, text):
        raise PanicException("byte index is not a char boundary")

    monkeypatch.setattr(chunking, "_boundaries", lambda: panics)
    text = "First paragraph. Two sentences.\n\nSecond one."
    assert [text[s.start : s.end] for s in split_sentences(text)] == [
        "First paragraph. Two sentences.",
        "Second one.",
    ]

    def interrupted(language, text):
        raise KeyboardInterrupt

    monkeypatch.setattr(chunking, "_boundaries", lambda: interrupted)
    with pytest.raises(KeyboardInterrupt):
        split_sentences(text)
