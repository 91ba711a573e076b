"""Building an index: chunk documents, embed what is new, reuse the rows of what is not."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from bot.config import ChunkingSettings
from bot.ingest.chunking import Passage, chunk_document, passage_lead
from bot.ingest.corpus import Document
from bot.search.embedder import Embedder, SpanEmbedder, TokenEmbedder, normalise
from bot.search.lexical import LexicalIndex
from bot.search.quantize import Quantized, fixed_rotation, packed_width, quantize_rows
from bot.search.rows import PassageTable, SentenceTable, TokenVectors
from bot.search.store import Index, IndexParams, lexical_text, params_for

log = logging.getLogger(__name__)

# Passages embedded per model call when token vectors are kept (their float vectors are held
# until quantized: 2,048 passages are about 0.5 GB).
TOKEN_SLICE = 2048
# Pooled sentence vectors less this share of their passage's vector (SQuAD-dev tune split:
# recall@1 0.879 at 0, 0.887 at 0.5, as with each sentence embedded alone: 0.887).
CONTEXT_WEIGHT = 0.5
# Token vectors beyond this are worth a warning at build time: ~1.6M SQuAD-sized passages at
# ~6 KB each (a million passages with late interaction on is a supported size).
TOKEN_WARN_BYTES = 10**10
# Token rows quantized in one product (~40 MB of float32 at dimension 384).
QUANTIZE_ROWS = 25_000
# Passages embedded at a time while the documents are still being read.
WAVE = 512


@dataclass
class BuildReport:
    """What an index build did."""

    embedded_documents: list[str]
    reused_documents: list[str]
    removed_documents: list[str]
    embedded_passages: int
    embedded_sentences: int

    @classmethod
    def nothing(cls, index: Index) -> BuildReport:
        """The report of a build that found the index current."""
        return cls([], [d.source for d in index.documents], [], 0, 0)


@dataclass
class _DocRows:
    """One document's rows in the new index: passage and sentence rows (document 0, sentence
    numbers from 0) and, when reused from the previous index, their vectors and tokens."""

    passages: np.ndarray
    sentences: np.ndarray
    passage_vectors: np.ndarray | None = None
    sentence_vectors: np.ndarray | None = None
    tokens: list[Quantized] | None = None


# What a build embeds, in order: passage vectors, sentence vectors, quantized tokens (None:
# none embedded, or tokens not kept).
_Vectors = tuple[np.ndarray | None, np.ndarray | None, list[Quantized] | None]


@dataclass
class _ToEmbed:
    """The texts a build embeds: passages (with their title when embedded so), sentences, and
    per passage its sentences' spans in its text and their positions in sentences."""

    passages: list[str]
    sentences: list[str]
    spans: list[list[tuple[int, int]]]
    span_rows: list[list[int]]


def build_index(
    documents: Iterable[Document],
    embedder: Embedder,
    chunking: ChunkingSettings,
    *,
    previous: Index | None = None,
    progress: bool = False,
    skipped: dict[str, str] | None = None,
    on_plan: Callable[[int, int], None] | None = None,
) -> tuple[Index, BuildReport]:
    """Chunk and embed documents, reusing rows of unchanged documents from previous;
    on_plan(passages, sentences) hears how many will be embedded, before embedding starts.

    documents may be an iterator whose documents are still being read (in other processes,
    bot.ingest.corpus.read_corpus): the model then embeds every WAVE passages as they come,
    while the rest are read, and on_plan hears only of the last wave, once all are read.
    skipped (source -> sha256 of each file that could not be read) is read when the build
    ends, so a reader may still be filling it while the documents come.
    """
    params = params_for(embedder, chunking)
    reusable: dict[tuple[str, str, str], int] = {}
    rotation = fixed_rotation(params.dim)
    if previous is not None and previous.params == params:
        # The title is embedded with each passage, so a new title means new vectors.
        reusable = {(d.source, d.sha256, d.title): i for i, d in enumerate(previous.documents)}
        rotation = np.asarray(previous.tokens.rotation)  # reused tokens were turned so
    turn = rotation if params.token_vectors else None
    todo = _ToEmbed([], [], [], [])
    docs: list[Document] = []
    doc_rows: list[_DocRows] = []
    embedded, reused = [], []
    waves: list[_Vectors] = []
    counts = [0, 0]  # passages and sentences embedded
    streamed = not isinstance(documents, Sequence)
    spans = _row_spans(previous) if reusable and previous is not None else None
    for doc in documents:
        docs.append(doc)
        old_i = reusable.get((doc.source, doc.sha256, doc.title))
        if old_i is not None and previous is not None and spans is not None:
            doc_rows.append(_reused_rows(previous, old_i, spans, params.token_vectors))
            reused.append(doc.source)
        else:
            doc_rows.append(_chunked_rows(doc, embedder, chunking, todo))
            embedded.append(doc.source)
        if streamed and len(todo.passages) >= WAVE:
            waves.append(_embed(embedder, todo, turn, progress=False))
            counts = [counts[0] + len(todo.passages), counts[1] + len(todo.sentences)]
            todo = _ToEmbed([], [], [], [])
    if progress and (todo.passages or todo.sentences):
        log.info("Embedding %d passages and %d sentences", len(todo.passages), len(todo.sentences))
    if on_plan is not None:
        on_plan(len(todo.passages), len(todo.sentences))
    # The BM25 index needs only the passages' texts, known now: it is built in a thread
    # while the model embeds (the model's work releases the interpreter lock).
    texts = [
        lexical_text(doc, start, end)
        for doc, rows in zip(docs, doc_rows, strict=True)
        for start, end in PassageTable(rows.passages).spans
    ]
    with ThreadPoolExecutor(1, thread_name_prefix="quotebot-bm25") as pool:
        lexical = pool.submit(LexicalIndex.build, texts)
        waves.append(_embed(embedder, todo, turn, progress=progress))
        counts = [counts[0] + len(todo.passages), counts[1] + len(todo.sentences)]
        index = _assemble(params, docs, doc_rows, _joined(waves), rotation)
        index.lexical = lexical.result()
    index.skipped = skipped or {}
    removed = []
    if previous is not None:
        current = {d.source for d in docs}
        removed = [d.source for d in previous.documents if d.source not in current]
    report = BuildReport(embedded, reused, removed, counts[0], counts[1])
    return index, report


def _joined(waves: list[_Vectors]) -> _Vectors:
    """The vectors of several waves, in order, as one wave's."""
    if len(waves) == 1:
        return waves[0]
    p = [w[0] for w in waves if w[0] is not None]
    s = [w[1] for w in waves if w[1] is not None]
    t = [w[2] for w in waves if w[2] is not None]
    return (
        np.concatenate(p) if p else None,
        np.concatenate(s) if s else None,
        [q for part in t for q in part] if t else None,
    )


def _row_spans(index: Index) -> tuple[np.ndarray, np.ndarray]:
    """Per document of index, its first passage row and first sentence row, and one past the
    last of each (rows are in document order): (docs + 1,) boundaries of each table."""
    docs = np.arange(len(index.documents) + 1)
    return (
        np.searchsorted(np.asarray(index.passages.doc), docs),
        np.searchsorted(np.asarray(index.sentences.doc), docs),
    )


def _reused_rows(
    previous: Index, old_i: int, spans: tuple[np.ndarray, np.ndarray], tokens: bool
) -> _DocRows:
    """Document old_i's rows, vectors and tokens from previous, renumbered from 0."""
    p_lo, p_hi = int(spans[0][old_i]), int(spans[0][old_i + 1])
    s_lo, s_hi = int(spans[1][old_i]), int(spans[1][old_i + 1])
    p_rows = np.array(previous.passages.rows[p_lo:p_hi])
    PassageTable(p_rows).sentence_ranges[:] -= s_lo
    old_tokens = None
    if tokens:
        t = previous.tokens
        old_tokens = [
            (np.array(t.bits[a:b]), np.array(t.scales[a:b])) for a, b in t.ranges[p_lo:p_hi]
        ]
    return _DocRows(
        p_rows,
        np.array(previous.sentences.rows[s_lo:s_hi]),
        np.array(previous.passage_vectors[p_lo:p_hi]),
        previous.sentence_rows(s_lo, s_hi),
        old_tokens,
    )


def _chunked_rows(
    doc: Document, embedder: Embedder, chunking: ChunkingSettings, todo: _ToEmbed
) -> _DocRows:
    """doc cut into passages: its rows (document 0), and its texts appended to todo."""
    budget = embedder.max_tokens - 2  # [CLS] and [SEP]
    title_tokens = embedder.count_tokens([doc.title])[0] + 1 if chunking.embed_titles else 0
    passages = chunk_document(
        0,
        doc,
        embedder.count_tokens,
        budget=budget,
        target=chunking.target_tokens,
        overlap=chunking.overlap_sentences,
        title_tokens=title_tokens,
    )
    spans: dict[tuple[int, int], int] = {}
    for p in passages:
        for s in p.sentences:
            spans.setdefault((s.start, s.end), len(spans))
    s_rows = np.array([[0, a, b] for (a, b) in spans], dtype=np.int64)
    p_rows = np.array(
        [
            [
                0,
                p.start,
                p.end,
                spans[(p.sentences[0].start, p.sentences[0].end)],
                spans[(p.sentences[-1].start, p.sentences[-1].end)] + 1,
            ]
            for p in passages
        ],
        dtype=np.int64,
    )
    leads = _leads(doc, passages, embedder, chunking, budget)
    for p, lead in zip(passages, leads, strict=True):
        body = doc.text[p.start : p.end]
        todo.passages.append(f"{lead}\n{body}" if chunking.embed_titles else body)
        shift = p.start - (len(lead) + 1 if chunking.embed_titles else 0)  # the "lead\n"
        todo.spans.append([(s.start - shift, s.end - shift) for s in p.sentences])
        todo.span_rows.append([len(todo.sentences) + spans[(s.start, s.end)] for s in p.sentences])
    todo.sentences.extend(doc.text[a:b] for (a, b) in spans)
    return _DocRows(p_rows.reshape(-1, PassageTable.WIDTH), s_rows.reshape(-1, SentenceTable.WIDTH))


def _leads(
    doc: Document,
    passages: Sequence[Passage],
    embedder: Embedder,
    chunking: ChunkingSettings,
    budget: int,
) -> list[str]:
    """What each passage is embedded under (chunking.passage_lead): the title, and with
    embed_sections the headings above it, the outer ones left out where the model's window
    would not hold them with the passage (the chunker left room for the title alone)."""
    sections = chunking.sections_embedded
    leads = [passage_lead(doc, p.start, sections=sections) for p in passages]
    if not sections or all(lead == doc.title for lead in leads):
        return leads
    # Counted in one call each; only a lead that does not fit is cut and counted again.
    bodies = embedder.count_tokens([doc.text[p.start : p.end] for p in passages])
    sizes = embedder.count_tokens(leads)
    for i, p in enumerate(passages):
        outer = 0
        while leads[i] != doc.title and sizes[i] + 1 + bodies[i] > budget:
            outer += 1
            leads[i] = passage_lead(doc, p.start, sections=True, outer=outer)
            sizes[i] = embedder.count_tokens([leads[i]])[0]
    return leads


def _embed(
    embedder: Embedder, todo: _ToEmbed, rotation: np.ndarray | None, *, progress: bool
) -> _Vectors:
    """Vectors of todo's passages and sentences, and the passages' quantized tokens when
    rotation is given (token vectors kept)."""
    new_p = new_s = None
    new_t: list[Quantized] | None = None
    if todo.passages and isinstance(embedder, SpanEmbedder):
        # Sentences cost no model call of their own: pooled from the passages' pass.
        new_p, new_s, new_t = _embed_pooled(
            embedder,
            todo.passages,
            (todo.spans, todo.span_rows, len(todo.sentences)),
            rotation=rotation,
            progress=progress,
        )
    elif todo.passages and rotation is not None:
        # One pass of the model gives the passage vectors and every token's vector. In slices,
        # quantized as they come: float token vectors of a whole corpus would not fit.
        assert isinstance(embedder, TokenEmbedder)
        parts, new_t = [], []
        for lo in range(0, len(todo.passages), TOKEN_SLICE):
            vecs, pieces = embedder.embed_tokens(
                todo.passages[lo : lo + TOKEN_SLICE], progress=progress
            )
            parts.append(vecs)
            new_t.extend(quantize_each(pieces, rotation))
        new_p = np.concatenate(parts)
    elif todo.passages:
        new_p = embedder.embed(todo.passages, progress=progress)
    if new_s is None and todo.sentences:
        new_s = embedder.embed(todo.sentences, progress=progress)
    return new_p, new_s, new_t


def _assemble(
    params: IndexParams,
    documents: Sequence[Document],
    doc_rows: list[_DocRows],
    new: _Vectors,
    rotation: np.ndarray,
) -> Index:
    """The index of documents: each document's rows numbered in order, with the reused
    vectors or the next of the new ones."""
    new_p, new_s, new_t = new
    passages_out, sentences_out, pv_out, sv_out = [], [], [], []
    tokens_out: list[Quantized] = []
    p_cursor = s_cursor = 0
    sentence_base = 0
    for doc_i, rows in enumerate(doc_rows):
        p_rows, s_rows = rows.passages.copy(), rows.sentences.copy()
        PassageTable(p_rows).doc[:] = doc_i
        SentenceTable(s_rows).doc[:] = doc_i
        PassageTable(p_rows).sentence_ranges[:] += sentence_base
        sentence_base += s_rows.shape[0]
        pv, sv, toks = rows.passage_vectors, rows.sentence_vectors, rows.tokens
        if pv is None:
            assert new_p is not None and new_s is not None
            pv = new_p[p_cursor : p_cursor + p_rows.shape[0]]
            sv = new_s[s_cursor : s_cursor + s_rows.shape[0]]
            if new_t is not None:
                toks = new_t[p_cursor : p_cursor + p_rows.shape[0]]
            p_cursor += p_rows.shape[0]
            s_cursor += s_rows.shape[0]
        passages_out.append(p_rows)
        sentences_out.append(s_rows)
        pv_out.append(np.asarray(pv, dtype=np.float32))
        sv_out.append(np.asarray(sv, dtype=np.float32))
        tokens_out.extend(toks or [])
    dim = params.dim
    tokens = _token_vectors(tokens_out, dim, rotation) if params.token_vectors else None
    return Index(
        params,
        list(documents),
        PassageTable(np.concatenate(passages_out) if passages_out else None),
        SentenceTable(np.concatenate(sentences_out) if sentences_out else None),
        np.concatenate(pv_out) if pv_out else np.zeros((0, dim), np.float32),
        np.concatenate(sv_out) if sv_out else np.zeros((0, dim), np.float32),
        tokens,
    )


def quantize_each(pieces: list[np.ndarray], rotation: np.ndarray) -> list[Quantized]:
    """Each passage's token rows quantized (quantize_rows), QUANTIZE_ROWS rows a product:
    one product per passage took 14% of a small build, mostly in call overhead."""
    out: list[Quantized] = []
    lo = 0
    while lo < len(pieces):
        hi, rows = lo, 0
        while hi < len(pieces) and (hi == lo or rows + pieces[hi].shape[0] <= QUANTIZE_ROWS):
            rows += pieces[hi].shape[0]
            hi += 1
        bits, scales = quantize_rows(np.concatenate(pieces[lo:hi]), rotation)
        ends = np.cumsum([p.shape[0] for p in pieces[lo:hi]])
        out.extend(
            (bits[e - p.shape[0] : e], scales[e - p.shape[0] : e])
            for p, e in zip(pieces[lo:hi], ends, strict=True)
        )
        lo = hi
    return out


def _token_vectors(tokens: list[Quantized], dim: int, rotation: np.ndarray) -> TokenVectors:
    """Every passage's quantized tokens in one table, with each passage's range of rows."""
    ends = np.cumsum([t[0].shape[0] for t in tokens], dtype=np.int64)
    ranges = np.stack([ends - np.diff(ends, prepend=0), ends], axis=1).reshape(-1, 2)
    bits = np.concatenate([t[0] for t in tokens] or [np.zeros((0, packed_width(dim)), np.uint8)])
    scales = np.concatenate([t[1] for t in tokens] or [np.zeros(0, np.float16)])
    stored = bits.nbytes + scales.nbytes
    if stored > TOKEN_WARN_BYTES:
        log.warning(
            "Token vectors take %.1f GB for %d passages; to leave them out (and skip "
            "re-ranking), set chunking.token_vectors = false",
            stored / 1e9,
            len(tokens),
        )
    return TokenVectors(bits, scales, ranges, rotation)


def _embed_pooled(
    embedder: SpanEmbedder,
    texts: list[str],
    layout: tuple[list[list[tuple[int, int]]], list[list[int]], int],
    *,
    rotation: np.ndarray | None,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, list[Quantized] | None]:
    """Passage vectors, sentence vectors pooled from the passages' tokens, and (when kept)
    the quantized tokens (turned by rotation; None: not kept): one model pass over the
    passages, none over the sentences. layout is each text's sentence spans, their sentence
    rows, and the number of sentences.

    A sentence in two passages (the overlap) gets the mean of its two pooled vectors. Tokens
    in context carry their passage's topic, which every sentence of the passage then
    shares; CONTEXT_WEIGHT times the passage vector is taken off to tell them apart again.
    """
    spans, span_rows, sentences = layout
    parts: list[np.ndarray] = []
    tokens: list[Quantized] | None = [] if rotation is not None else None
    summed = np.zeros((sentences, embedder.dim), dtype=np.float32)
    context = np.zeros((sentences, embedder.dim), dtype=np.float32)
    seen = np.zeros(sentences, dtype=np.float32)
    for lo in range(0, len(texts), TOKEN_SLICE):
        hi = lo + TOKEN_SLICE
        vecs, pieces, pooled = embedder.embed_spans(texts[lo:hi], spans[lo:hi], progress=progress)
        parts.append(vecs)
        if tokens is not None and rotation is not None:
            tokens.extend(quantize_each(pieces, rotation))
        for rows, vectors, passage in zip(span_rows[lo:hi], pooled, vecs, strict=True):
            np.add.at(summed, rows, vectors)
            np.add.at(context, rows, passage)
            np.add.at(seen, rows, 1.0)
    context /= np.maximum(seen, 1.0)[:, None]
    sentence_vectors = normalise(normalise(summed) - CONTEXT_WEIGHT * context)
    return np.concatenate(parts), sentence_vectors, tokens
