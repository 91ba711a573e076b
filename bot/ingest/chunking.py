"""Cutting documents into sentences and sentences into passages that fit the model window.

Offsets are character offsets into the decoded document text, so every passage and every
quoted sentence is an exact substring of its source.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from bot.ingest.corpus import Document
from bot.ingest.layout import SECTION_SEPARATOR

log = logging.getLogger(__name__)

TokenCounter = Callable[[Sequence[str]], list[int]]

# Blank lines separate paragraphs and headings; the sentence splitter works inside them.
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_WORD = re.compile(r"\S+")

# Bump when the sentences or passages cut from the same text change: an index cut by an older
# version is rebuilt. 2: a sentence no longer ends inside a word (numba.config.NUMBA_NUM_THREADS).
CHUNKING_VERSION = 2


@dataclass(frozen=True)
class Span:
    """A [start, end) character range of a document."""

    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A run of whole sentences of one document, with its sentence spans."""

    doc: int
    start: int
    end: int
    sentences: tuple[Span, ...]


@cache
def _boundaries() -> Callable[[str, str], list[dict[str, Any]]]:
    """sentencex's splitter (Rust; ~130x pysbd's speed on SQuAD-dev, sentence ends agreeing with
    pysbd's at F1 0.992: BENCHMARKS.md). Imported on first use."""
    from sentencex import get_sentence_boundaries

    boundaries: Callable[[str, str], list[dict[str, Any]]] = get_sentence_boundaries
    return boundaries


# Whitespace outside ASCII (no-break and thin spaces, U+2028...): sentencex 1.0.32 panics on a
# capital, one of these and a period ("A\u00a0."), so each is read as a plain space. One
# character for one: the offsets it returns stay those of the original text.
_WIDE_SPACE = re.compile(r"[^\S\x00-\x7f]")


def _paragraphs(text: str) -> list[Span]:
    spans, pos = [], 0
    for m in _PARAGRAPH_BREAK.finditer(text):
        spans.append(Span(pos, m.start()))
        pos = m.end()
    spans.append(Span(pos, len(text)))
    return [s for s in spans if text[s.start : s.end].strip()]


def _trim(text: str, span: Span) -> Span | None:
    chunk = text[span.start : span.end]
    stripped = chunk.strip()
    if not stripped:
        return None
    lead = len(chunk) - len(chunk.lstrip())
    return Span(span.start + lead, span.start + lead + len(stripped))


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of text, found by sentencex within each paragraph, whitespace trimmed."""
    boundaries = _boundaries()
    out: list[Span] = []
    for para in _paragraphs(text):
        body = _WIDE_SPACE.sub(" ", text[para.start : para.end])
        try:
            found = [(b["start_index"], b["end_index"]) for b in boundaries("en", body)]
        except BaseException as exc:  # a Rust panic arrives as pyo3's PanicException, which
            # derives from BaseException; an input that breaks the splitter must not stop a build
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            log.warning("sentencex failed on a paragraph (%s); kept it whole", exc)
            found = [(0, len(body))]  # chunking cuts it at word boundaries if too long
        trimmed = (_trim(text, Span(para.start + a, para.start + b)) for a, b in found)
        out.extend(_whole_words(text, [s for s in trimmed if s is not None]))
    return out


def _whole_words(text: str, spans: list[Span]) -> list[Span]:
    """spans with those that touch joined: sentencex ends a sentence at a period followed by a
    capital even with no space between ("numba.config.NUMBA_NUM_THREADS", "~/.Brewfile"), but
    in a script written with spaces a sentence ends before whitespace. After a terminator of
    one written without them (Chinese "。"), touching sentences stay apart."""
    out: list[Span] = []
    for span in spans:
        if out and out[-1].end == span.start and text[span.start - 1].isascii():
            out[-1] = Span(out[-1].start, span.end)
        else:
            out.append(span)
    return out


def _split_long(text: str, span: Span, budget: int, count: TokenCounter) -> list[Span]:
    """Cut an over-long sentence at word boundaries into pieces of at most budget tokens."""
    words = [
        Span(span.start + m.start(), span.start + m.end())
        for m in _WORD.finditer(text[span.start : span.end])
    ]
    sizes = count([text[w.start : w.end] for w in words])
    pieces, first, used = [], 0, 0
    for i, size in enumerate(sizes):
        if used + size > budget and i > first:
            pieces.append(Span(words[first].start, words[i - 1].end))
            first, used = i, 0
        used += size
    pieces.append(Span(words[first].start, words[-1].end))
    # Token counts of joined words can differ from the sum; halve what still overflows.
    fixed: list[Span] = []
    for piece in pieces:
        if count([text[piece.start : piece.end]])[0] <= budget or piece.end - piece.start < 2:
            fixed.append(piece)
            continue
        mid = text.rfind(" ", piece.start, piece.start + (piece.end - piece.start) // 2 + 1)
        mid = mid if mid > piece.start else piece.start + (piece.end - piece.start) // 2
        for half in (Span(piece.start, mid), Span(mid, piece.end)):
            if (h := _trim(text, half)) is not None:
                fixed.extend(_split_long(text, h, budget, count))
    return fixed


def passage_lead(doc: Document, start: int, *, sections: bool, outer: int = 0) -> str:
    """What the passage starting at start is embedded under (BM25 reads the title alone):
    its document's title and, with sections, the headings it sits under but does not open,
    less the `outer` outermost of them (a heading that repeats the title is said once)."""
    if not sections:
        return doc.title
    path = [h for h in doc.layout.headings_above(doc.text, start) if h != doc.title]
    return SECTION_SEPARATOR.join([doc.title, *path[outer:]])


def chunk_document(
    doc_index: int,
    doc: Document,
    count: TokenCounter,
    *,
    budget: int,
    target: int,
    overlap: int,
    title_tokens: int = 0,
) -> list[Passage]:
    """Group a document's sentences into passages of about target tokens, never over budget.

    budget and target count tokens of the passage text (without special tokens);
    title_tokens is what a title prefix costs when it is embedded with the passage.
    overlap is how many sentences consecutive passages share.
    """
    text = doc.text
    room = max(8, budget - title_tokens)
    target = min(target, room)
    sentences: list[Span] = []
    sizes: list[int] = []
    raw = split_sentences(text)
    # Counted once; only the pieces of a sentence cut for being too long are counted again.
    for span, size in zip(raw, count([text[s.start : s.end] for s in raw]), strict=True):
        if size > room:
            pieces = _split_long(text, span, room, count)
            sentences.extend(pieces)
            sizes.extend(count([text[p.start : p.end] for p in pieces]))
        else:
            sentences.append(span)
            sizes.append(size)

    passages: list[Passage] = []
    i = 0
    while i < len(sentences):
        j, used = i, 0
        while j < len(sentences) and (j == i or used + sizes[j] <= target):
            used += sizes[j]
            j += 1
        # The sum of sentence counts approximates the joined text; check the real count.
        while j - i > 1 and count([text[sentences[i].start : sentences[j - 1].end]])[0] > room:
            j -= 1
        passages.append(
            Passage(doc_index, sentences[i].start, sentences[j - 1].end, tuple(sentences[i:j]))
        )
        if j >= len(sentences):
            break
        i = max(i + 1, j - overlap)
    return passages
