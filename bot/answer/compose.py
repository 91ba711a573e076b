"""Answer composition: pick the passages to quote, mark the answering sentence(s), or decline."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from bot.answer.followup import FollowUp, depends, mixed_tokens, mixed_vector, surely_depends
from bot.answer.verify import Verifies
from bot.answer.wording import (
    SUBJECT_SHARE,
    WHO,
    answer_forms,
    asks_for_limit,
    asks_for_quantity,
    asks_for_version,
    clean_question,
    contents_like,
    has_words,
    names_in,
    tells_a_situation,
    tells_no_amount,
    tells_no_limit,
    tells_no_version,
)
from bot.config import AnswerSettings, RetrievalSettings, Scope, SourceLink
from bot.ingest.links import cite_url, published_url
from bot.search.embedder import Embedder
from bot.search.lexical import LexicalIndex, terms
from bot.search.retrieval import Hit, Retriever
from bot.search.scopes import Readable, passage_mask, readable_documents
from bot.search.store import Index


class TermWeights(NamedTuple):
    """A question's distinct content terms and their idf in this corpus (coverage's input)."""

    terms: list[str]
    weights: np.ndarray
    total: float


@dataclass(frozen=True)
class Source:
    """One quoted passage. start/end are the passage's offsets in the document's extracted
    text (widened to the marked sentence where that lies beyond it: Answerer.markable);
    quote_start/quote_end those of the marked sentence(s). line_start/line_end are the
    passage's source lines (text formats); page and section say where the marked sentence is,
    and url links to it (None where unknown)."""

    title: str
    source: str
    passage: str
    quote: str
    score: float
    start: int
    end: int
    quote_start: int
    quote_end: int
    quote_sentences: int = 1
    verifier: float | None = None  # the verifier's probability that the passage answers
    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    section: str | None = None
    url: str | None = None

    def citation(self) -> str:
        """Where the quote is, for people: file, page or lines, and the heading path."""
        place = self.source
        if self.page is not None:
            place += f", p. {self.page}"
        elif self.line_start is not None:
            last = self.line_end or self.line_start
            place += (
                f", line {last}" if last == self.line_start else f", lines {self.line_start}–{last}"
            )
        return f"{place} · {self.section}" if self.section else place

    def public(self) -> dict[str, Any]:
        """The fields of the `ask --json` result shape."""
        d = asdict(self)
        return {k: d[k] for k in PUBLIC_FIELDS}


PUBLIC_FIELDS = (
    "title",
    "source",
    "passage",
    "quote",
    "score",
    "verifier",
    "start",
    "end",
    "page",
    "line_start",
    "line_end",
    "section",
    "url",
)


@dataclass(frozen=True)
class Answer:
    """The bot's reply to one question."""

    question: str
    answered: bool
    results: list[Source] = field(default_factory=list)
    confidence: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The `ask --json` object."""
        return {
            "question": self.question,
            "answered": self.answered,
            "results": [r.public() for r in self.results] if self.answered else [],
        }


# Paragraphs are separated by a blank line; PDF pages by a form feed on its own line.
_BLANK_LINE = re.compile(r"\n[ \t\r\f]*\n")
# A sentence that opens by pointing back at what came before it ("This sets the
# HOMEBREW_NO_EMOJI environment variable, …" under the command that does it).
POINTS_BACK = re.compile(r"(This|That|These|Those|It|They)\b")


class Sentences(NamedTuple):
    """The sentences of a passage that may be marked, in document order (Answerer.
    sentence_scores): their rows, texts, whether each lies in a code block or table, and how
    well each answers the question (-inf: never marked alone)."""

    ids: list[int]
    texts: list[str]
    blocks: np.ndarray
    scores: np.ndarray


def followed(scores: np.ndarray, joined: Sequence[bool]) -> np.ndarray:
    """Per sentence, the score of the sentence before it when joined to it in one paragraph
    (joined[k]: sentence k follows k-1 there), else 0, as after one never marked: how well
    what it follows asks the question."""
    out = np.zeros(len(scores), np.float32)
    for k in range(1, len(scores)):
        if np.isfinite(scores[k - 1]) and joined[k]:
            out[k] = scores[k - 1]
    return out


def shaped(texts: Sequence[str], forms: Sequence[Callable[[str], bool]]) -> np.ndarray:
    """Per sentence, 1 where it has one of the forms of an answer (wording.answer_forms)."""
    return np.array([any(form(t) for form in forms) for t in texts], np.float32)


def mark(
    scores: np.ndarray,
    texts: Sequence[str],
    joined: Sequence[bool],
    blocks: Sequence[bool] | np.ndarray,
    marked_heading: Callable[[int], bool],
    max_sentences: int,
) -> tuple[int, int]:
    """The first and last of the sentences to mark, by position: the best by scores, with
    max_sentences 2 its better-scoring neighbour in its paragraph (joined), the code block
    above a sentence that points back, and what a sentence ending with a colon introduces.
    marked_heading(k): whether sentence k is a heading its reader marked."""
    n = len(scores)
    best = int(np.argmax(scores))
    lo = hi = best
    if max_sentences >= 2 and n > 1:
        # Two sentences: the best and its better-scoring neighbour. The answer often sits
        # in the sentence beside the one that repeats the question's words.
        # A neighbour in another paragraph is another thought: never mark across a break.
        left = scores[best - 1] if best > 0 and joined[best] else -np.inf
        right = scores[best + 1] if best + 1 < n and joined[best + 1] else -np.inf
        if right >= left and right > -np.inf:
            hi = best + 1
        elif left > -np.inf:
            lo = best - 1
    # A sentence that points back ("This hides the badge…") explains the code block
    # above it: the block is what it means, and it is marked with it.
    if POINTS_BACK.match(texts[lo].lstrip()):
        while lo > 0 and blocks[lo - 1]:
            lo -= 1
    # A sentence ending with a colon introduces what follows it ("run its own executable
    # to record its packages:"): the code block or table right after it is its answer,
    # marked with it, though a block is never marked alone. Where no block follows (a
    # PDF's code is lines of text; a list's first item), the sentence after it is, unless
    # its reader marked it a heading (a line alone may be the command it introduces).
    if texts[hi].rstrip().endswith(":") and hi + 1 < n:
        if blocks[hi + 1]:
            while hi + 1 < n and blocks[hi + 1]:
                hi += 1
        elif not marked_heading(hi + 1):
            hi += 1
    return lo, hi


# A follow-up read with its context is answered so only when that is surer than the follow-up
# read alone by more than this (a confidence difference): the context may complete a question,
# not outvote the words it has. Chosen on SQuAD-dev's tune split (eval/followups.py --split
# tune --unrelated 8: each question that may lean on another asked after 8 different unrelated
# ones, 1,304 tries). At 0, 6 tries lost the answer they had alone, the context read surer by
# 0.002 to 0.079; 0.08 loses none; 0.1 (kept above the largest of those, for questions not
# seen) loses none and answers 0.857 of the tune follow-ups (0.897 at 0; their full questions
# 0.865).
FOLLOW_UP_MARGIN = 0.1
# Scoped Answerers kept per Answerer: a server has a few combinations of scopes, not more.
MAX_SCOPE_SETS = 64


class Verdicts:
    """The verifier's probabilities that passages of its pool answer a question, each read
    once, when first asked for: of a pool of ten, a question quotes one to three. A passage
    outside the pool, or with no verifier, has none (None). A pair is scored alone
    (Verifier.logits), so reading one passage or the whole pool gives it the same score."""

    def __init__(
        self,
        verifier: Verifies | None,
        question: str,
        pool: Sequence[int],
        text: Callable[[int], str],
    ) -> None:
        self.verifier = verifier
        self.question = question
        self.pool = list(dict.fromkeys(pool))
        self._members = set(self.pool)
        self._text = text
        self._read: dict[int, float] = {}

    def read_all(self) -> list[float]:
        """Every pool passage's probability, in pool order, those not yet read in one call."""
        unread = [p for p in self.pool if p not in self._read]
        if self.verifier is not None and unread:
            probs = self.verifier.scores(self.question, [self._text(p) for p in unread])
            self._read.update(zip(unread, (float(x) for x in probs), strict=True))
        return [self._read[p] for p in self.pool]

    def get(self, passage: int) -> float | None:
        """The passage's probability, read now if it was not yet; None outside the pool."""
        if self.verifier is None or passage not in self._members:
            return None
        if passage not in self._read:
            [p] = self.verifier.scores(self.question, [self._text(passage)])
            self._read[passage] = float(p)
        return round(self._read[passage], 4)


class Answerer:
    """Turns a question into an Answer using a Retriever over an Index."""

    def __init__(
        self,
        index: Index,
        embedder: Embedder,
        retrieval: RetrievalSettings,
        answer: AnswerSettings,
        *,
        links: Sequence[SourceLink] = (),
        verifier: Verifies | None = None,
        scopes: Sequence[Scope] = (),
    ) -> None:
        self.index = index
        self.verifier = verifier if answer.verifier else None
        self.links = tuple(links)  # [[sources]]: URLs for documents that name none themselves
        self.scopes = tuple(scopes)  # [[scopes]]: who may read which documents
        self.retriever = Retriever(index, embedder, retrieval)
        self.settings = answer
        self.k = retrieval.k
        self._asked: tuple[str, float] = ("", 0.0)  # the last question and its penalty
        self._contents: dict[int, bool] = {}  # passage: is it a contents list (contents_like)
        self._scoped: dict[frozenset[str], Answerer] = {}

    @property
    def lexical(self) -> LexicalIndex:
        """BM25 and the vocabulary over the passages this Answerer may quote."""
        return self.retriever.lexical

    def for_scopes(self, readable: Readable) -> Answerer:
        """The Answerer for a place that may read the scopes readable (None: everything).

        It answers as if the index held only the documents that place may read: retrieval,
        fusion, re-ranking, the verifier, the penalties' vocabulary and the decline decision
        all see those passages alone. Made once per set of scopes and kept with this Answerer
        (so with its index: an updated index gets a new Answerer, and new masks).
        """
        if readable is None:
            return self
        cached = self._scoped.get(readable)
        if cached is not None:
            return cached
        mask = passage_mask(
            [d.source for d in self.index.documents], self.index.passages.doc, self.scopes, readable
        )
        scoped = self
        if mask is not None:
            scoped = copy.copy(self)
            scoped.retriever = self.retriever.restricted(mask)
            scoped._asked = ("", 0.0)
            scoped._scoped = {}
        if len(self._scoped) < MAX_SCOPE_SETS:
            self._scoped[readable] = scoped
        return scoped

    def readable_documents(self, readable: Readable) -> list[int]:
        """The numbers of the documents a place that may read readable may quote."""
        docs = readable_documents([d.source for d in self.index.documents], self.scopes, readable)
        return [int(i) for i in np.flatnonzero(docs)]

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        query_vector: np.ndarray | None = None,
        query_tokens: np.ndarray | None = None,
        context: str | None = None,
    ) -> Answer:
        """Answer question with up to k quoted sources, or decline.

        query_vector and query_tokens are the question's encoding when the caller has it
        (Retriever.encode, for many questions in one model call). context is the question
        asked before it in the same conversation (a thread, a DM): a question that leans on
        it (followup.depends) is also searched with it (follow_up); the Answer's question is
        still the one asked, and nothing of the context is quoted unless a passage holds it.
        """
        q = clean_question(question, self.settings.max_question_chars)
        k = k or self.k
        if query_vector is None:
            vectors, tokens = self.retriever.encode([q])
            query_vector, query_tokens = vectors[0], tokens[0] if tokens else None
        # Overlapping windows of one document can crowd the top; search deeper, keep distinct.
        # The verifier reads a pool drawn before overlapping windows are merged: of two
        # overlapping passages, the one that ranks lower may be the one holding the answer.
        depth = max(k * 3, self.settings.verifier_pool if self.verifier is not None else 0)
        hits = self.retriever.search(q, depth, query_vector=query_vector, query_tokens=query_tokens)
        alone = self.compose(q, query_vector, hits, k)
        if context is None or not context.strip() or not depends(q):
            return alone
        context = clean_question(context, self.settings.max_question_chars)
        return self.follow_up(FollowUp(q, context), alone, k, depth, query_vector, query_tokens)

    def follow_up(
        self,
        follow: FollowUp,
        alone: Answer,
        k: int,
        depth: int,
        own_vector: np.ndarray,
        own_tokens: np.ndarray | None,
    ) -> Answer:
        """The Answer to a follow-up read with its context: searched with both questions'
        vectors and words (the context's weighing less, followup.CONTEXT_WEIGHT). Kept when
        the follow-up cannot be read alone ("And the NFC?", followup.surely_depends) or is
        surer so than alone, the answer to the follow-up by itself (a question that only looks
        like a follow-up, asked after an unrelated one, stays answered as if alone)."""
        vectors, tokens = self.retriever.encode([follow.context])
        qv = mixed_vector(own_vector, vectors[0])
        qt = mixed_tokens(own_tokens, tokens[0]) if own_tokens is not None and tokens else None
        hits = self.retriever.search(follow.lexical_text(), depth, query_vector=qv, query_tokens=qt)
        read = self.compose(follow.question, qv, hits, k, follow=follow)
        if surely_depends(follow.question):
            return read
        return read if read.confidence > alone.confidence + FOLLOW_UP_MARGIN else alone

    def compose(
        self,
        q: str,
        qv: np.ndarray,
        ranked: list[Hit],
        k: int,
        *,
        follow: FollowUp | None = None,
    ) -> Answer:
        """The Answer to the cleaned question q from its hits, best first. With follow (q
        read with its context), the verifier, the marked sentence and the confidence read
        both questions, the context's words weighing less."""
        read = follow.whole() if follow else q
        ranked, verified = self.verify(read, ranked)
        # A table of contents repeats the words of every question it lists and answers none.
        ranked = sorted(ranked, key=lambda h: self.contents_like(h.passage))  # stable
        hits = self._distinct(ranked, len(ranked))
        if not hits:
            return Answer(q, False)
        q_terms = self.term_weights(q, follow=follow)
        situation = tells_a_situation(read)
        forms = answer_forms(read)
        results = [
            self.quote(
                hits[0],
                q_terms,
                qv,
                self.settings.max_quote_sentences,
                read=read,
                situation=situation,
                forms=forms,
                reach=True,
            )
        ]
        results[0] = replace(results[0], verifier=verified.get(hits[0].passage))
        conf, bar = self.confidence(q, hits[0], q_terms, results[0], follow=follow)
        answered = (
            conf >= bar
            and self.verified(verified.get(hits[0].passage))
            and not self.lacks_value(follow.answer_frame() if follow else q, results[0].passage)
        )
        top, top_doc = results[0], self.index.passages[hits[0].passage].doc
        for h in hits[1:]:
            if len(results) == k:
                break
            doc, start, end, *_ = self.index.passages[h.passage]
            if doc == top_doc and start < top.end and top.start < end:
                continue  # the top passage, shown with the sentences marked around it, holds it
            further = self.quote(h, q_terms, qv, 1, situation=situation, forms=forms)
            if not self.is_evidence(q, h, q_terms, further, follow=follow):
                continue
            further = replace(further, verifier=verified.get(h.passage))
            if self.verified(further.verifier):
                results.append(further)
        return Answer(q, answered, results, conf)

    def verify(self, q: str, ranked: list[Hit]) -> tuple[list[Hit], Verdicts]:
        """The hits re-ordered by retrieval score plus verifier_weight times the verifier's
        probability, over the first verifier_pool of them (the rest keep their order after),
        and the verifier's verdicts on that pool. With verifier_weight 0 no passage is read
        here: a verdict is read when it is first asked for (Verdicts.get), so a question
        costs the passages it may quote, not the whole pool. Unchanged without a verifier."""
        if self.verifier is None or not ranked:
            return ranked, Verdicts(None, q, (), self.index.passage_text)
        s = self.settings
        pool = ranked[: s.verifier_pool]
        verdicts = Verdicts(self.verifier, q, [h.passage for h in pool], self.index.passage_text)
        if s.verifier_weight == 0:
            probs = [0.0] * len(pool)
        else:
            read = dict(zip(verdicts.pool, verdicts.read_all(), strict=True))
            probs = [read[h.passage] for h in pool]
        weight = s.verifier_weight
        combined = [h.score + weight * p for h, p in zip(pool, probs, strict=True)]
        order = sorted(range(len(pool)), key=lambda i: -combined[i])  # stable on ties
        return [pool[i] for i in order] + ranked[len(pool) :], verdicts

    def contents_like(self, passage: int) -> bool:
        """Whether the passage is a table of contents or an FAQ's index (wording.contents_like),
        looked at once per passage."""
        known = self._contents.get(passage)
        if known is None:
            known = self._contents[passage] = contents_like(self.index.passage_text(passage))
        return known

    def lacks_value(self, question: str, passage: str) -> bool:
        """Whether the question asks for an amount and the passage quoted for it tells none,
        asks which version and it names none, or asks for a limit and it tells of none
        (answer.amount_check): a passage about the setting, without its value."""
        if not self.settings.amount_check:
            return False
        return (
            (asks_for_version(question) and tells_no_version(passage))
            or (asks_for_limit(question) and tells_no_limit(passage))
            or (asks_for_quantity(question) and tells_no_amount(passage))
        )

    def verified(self, probability: float | None) -> bool:
        """Whether the verifier lets a passage be quoted as an answer (min_verifier); a
        passage it did not read (no verifier, or beyond its pool) is not held back by it."""
        return probability is None or probability >= self.settings.min_verifier

    def is_evidence(
        self, q: str, hit: Hit, q_terms: TermWeights, src: Source, *, follow: FollowUp | None = None
    ) -> bool:
        """Whether a further source is evidence too: its own confidence (the top passage's
        formula) reaches answer.min_further_confidence (without token vectors, the
        decline bar), its retrieval score answer.min_further_score, and its quote is prose,
        not a bare heading."""
        if hit.score < self.settings.min_further_score:
            return False
        doc = self.index.passages[hit.passage].doc
        if self.is_heading_span(doc, src.quote_start, src.quote_end):
            return False
        conf, bar = self.confidence(q, hit, q_terms, src, follow=follow)
        further_bar = self.settings.min_further_confidence if hit.token_score is not None else bar
        return conf >= further_bar

    def _distinct(self, hits: list[Hit], k: int) -> list[Hit]:
        """The first k hits whose passages do not overlap an earlier hit's (overlapping windows)."""
        chosen: list[Hit] = []
        spans: list[tuple[int, int, int]] = []
        for h in hits:
            doc, start, end, *_ = self.index.passages[h.passage]
            if any(d == doc and start < e and s < end for d, s, e in spans):
                continue
            chosen.append(h)
            spans.append((doc, start, end))
            if len(chosen) == k:
                break
        return chosen

    def sentence_scores(
        self, hit: Hit, q_terms: TermWeights, qv: np.ndarray, *, reach: bool = False
    ) -> Sentences:
        """The sentences of the hit's passage and how well each answers the question; with
        reach, the sentences around the passage that may be marked with it too (markable)."""
        ids = self.markable(hit.passage) if reach else list(self.index.sentence_ids(hit.passage))
        if self.index.sentence_vectors.shape[0]:
            dense = np.asarray(self.index.sentence_vectors[ids] @ qv, dtype=np.float32)
        else:
            dense = np.zeros(len(ids), dtype=np.float32)
        texts = [self.index.sentence_text(j) for j in ids]
        lex = np.array([self.coverage(q_terms, t) for t in texts], dtype=np.float32)
        scores = dense + lex
        headings = np.array([self.is_heading(j) for j in ids])
        if not headings.all():
            # A heading repeats the topic's words but never answers; quote prose instead.
            scores[headings] = -np.inf
        blocks = np.array([self.in_block(j) for j in ids])
        if not (headings | blocks).all():
            # Code and tables are quoted with their passage, never marked as its answer.
            scores[blocks] = -np.inf
        asks = np.array([t.rstrip().endswith("?") for t in texts])
        if not (headings | blocks | asks).all():
            # A question (an FAQ's own, a rhetorical one) repeats the asker's words but is
            # not an answer; its answer follows it.
            scores[asks] = -np.inf
        bare = np.array([not has_words(t) for t in texts])
        if not (headings | blocks | asks | bare).all():
            scores[bare] = -np.inf  # a list's number ("1.") split off as a sentence
        weight = self.settings.heading_weight
        if weight > 0 and len(ids) > 1:
            scores = scores + weight * self.heading_coverage(ids, headings, asks, q_terms)
        return Sentences(ids, texts, blocks, scores)

    def markable(self, passage: int) -> list[int]:
        """Sentence rows that may be marked in a passage, in document order: its own; the
        sentence before it where the passage begins inside a paragraph; and up to
        reach_forward sentences after it under the same heading. A passage boundary can cut a
        term from its description ("RUSTUP_DOWNLOAD_TIMEOUT unstable (default: 180)." ends
        one passage, "Allows to override the default timeout…" opens the next), or a section's
        heading and problem from its answer. A sentence marked beyond the passage is shown
        with it (quote)."""
        ids = list(self.index.sentence_ids(passage))
        if not ids:
            return ids
        sentences = self.index.sentences
        first, last = ids[0], ids[-1]
        before = first - 1
        if (
            before >= 0
            and sentences[before].doc == sentences[first].doc
            and self.same_paragraph(before, first)
        ):
            ids.insert(0, before)
        doc = sentences[last].doc
        layout = self.index.documents[doc].layout
        heading = layout.heading_of(sentences[last].start)
        end = min(last + 1 + self.settings.reach_forward, len(sentences))
        for j in range(last + 1, end):
            if sentences[j].doc != doc or layout.heading_of(sentences[j].start) != heading:
                break
            ids.append(j)
        return ids

    def heading_coverage(
        self,
        ids: Sequence[int],
        headings: np.ndarray,
        asks: np.ndarray,
        q_terms: TermWeights,
    ) -> np.ndarray:
        """Per sentence of a passage, the share of the question's idf weight in what it
        answers: the nearest question before it in its section (an FAQ's), else the innermost
        heading it sits under. A heading or an FAQ's question that repeats the asker's words
        is never quoted itself, but the sentences under it are where its answer is; those
        under another heading, though in the same passage, answer something else."""
        rows = [self.index.sentences[j] for j in ids]
        doc = self.index.documents[rows[0].doc]
        heads: list[tuple[int, int] | None] = []
        local: tuple[int, int] | None = None  # the passage's own last heading (any format)
        asked: tuple[int, int] | None = None  # its last question since that heading
        for k, row in enumerate(rows):
            if headings[k]:
                local, asked = (row.start, row.end), None
            candidates = [h for h in (doc.layout.heading_of(row.start), local, asked) if h]
            heads.append(max(candidates) if candidates else None)  # the one read last
            if asks[k] and not headings[k]:
                asked = (row.start, row.end)
        cover = {h: self.coverage(q_terms, doc.text[h[0] : h[1]]) for h in set(heads) if h}
        return np.array([cover[h] if h else 0.0 for h in heads], np.float32)

    def in_block(self, j: int) -> bool:
        """Whether sentence j lies in a code block or a table of its document."""
        doc, start, end = self.index.sentences[j]
        return self.index.documents[doc].layout.is_block(start, end)

    def same_paragraph(self, a: int, b: int) -> bool:
        """Whether consecutive sentences a and b have no blank line (or page break) between them."""
        doc, _, end = self.index.sentences[a]
        start = self.index.sentences[b].start
        return not _BLANK_LINE.search(self.index.documents[doc].text[end:start])

    def is_heading(self, j: int) -> bool:
        """Whether sentence j is a heading: marked so by its reader, or (plain text and PDF,
        whose readers may miss some) standing alone in its paragraph with no closing punctuation."""
        doc, start, end = self.index.sentences[j]
        return self.is_heading_span(doc, start, end)

    def marked_heading(self, j: int) -> bool:
        """Whether sentence j is a heading its reader marked (is_heading also guesses, in
        plain text and PDF)."""
        doc, start, end = self.index.sentences[j]
        return self.index.documents[doc].layout.is_heading(start, end)

    def is_heading_span(self, doc: int, start: int, end: int) -> bool:
        """is_heading for the sentence at characters start:end of document doc."""
        document = self.index.documents[doc]
        return document.layout.reads_as_heading(document.text, start, end)

    def term_weights(self, question: str, *, follow: FollowUp | None = None) -> TermWeights:
        """The question's distinct content terms with their idf, looked up once per question;
        with follow, its context's terms too, their idf scaled by followup's weights."""
        uniq = sorted(set(terms(follow.whole() if follow else question)))
        weights = self.lexical.idf(uniq) if uniq else np.zeros(0, np.float32)
        if follow is not None and uniq:
            weights = weights * follow.term_weights(uniq)
        return TermWeights(uniq, weights, float(weights.sum()))

    def coverage(self, q: TermWeights, text: str) -> float:
        """Share of the question's idf weight whose terms appear in text."""
        if not q.terms or q.total <= 0:
            return 0.0
        present = set(terms(text))
        return float(
            sum(w for t, w in zip(q.terms, q.weights, strict=True) if t in present) / q.total
        )

    def quote(
        self,
        hit: Hit,
        q_terms: TermWeights,
        qv: np.ndarray,
        max_sentences: int,
        *,
        read: str | None = None,
        situation: bool = False,
        forms: Sequence[Callable[[str], bool]] = (),
        reach: bool = False,
    ) -> Source:
        """Quote the hit's passage, marking its best sentence (and a neighbour if it helps).
        With read (the question), the verifier also reads each sentence with it, adding
        verifier_sentence_weight times its probability to the sentence's score. With
        situation (a question told in the first person), a sentence also gains from the one
        before it (followed); with forms (wording.answer_forms: what an answer to the
        question's kind looks like), a sentence of such a form gains cue_weight. With reach,
        the sentences around the passage that markable names may be marked too, and the
        passage is then shown from or to the marked sentence."""
        ids, texts, blocks, scores = self.sentence_scores(hit, q_terms, qv, reach=reach)
        joined = [k > 0 and self.same_paragraph(ids[k - 1], ids[k]) for k in range(len(ids))]
        weight = self.settings.verifier_sentence_weight
        if read is not None and self.verifier is not None and weight > 0 and len(ids) > 1:
            scores = scores + weight * self.verifier.scores(read, texts)
        if situation and self.settings.follow_weight > 0 and len(ids) > 1:
            # Documentation restates a problem told in the first person, then answers it.
            scores = scores + self.settings.follow_weight * followed(scores, joined)
        if forms and self.settings.cue_weight > 0 and len(ids) > 1:
            # Asked for a way out, the sentence offering one outranks the problem's account;
            # asked where, the sentence saying where outranks those about the thing.
            scores = scores + self.settings.cue_weight * shaped(texts, forms)
        lo, hi = mark(
            scores, texts, joined, blocks, lambda k: self.marked_heading(ids[k]), max_sentences
        )
        doc_i, p_start, p_end, *_ = self.index.passages[hit.passage]
        doc = self.index.documents[doc_i]
        q_start = self.index.sentences[ids[lo]].start
        q_end = self.index.sentences[ids[hi]].end
        # A sentence marked beyond the passage (markable) is shown with it.
        p_start, p_end = min(p_start, q_start), max(p_end, q_end)
        lines = doc.locate(p_start, p_end)
        at = doc.locate(q_start, q_end)
        quote = doc.text[q_start:q_end]
        url = doc.url or published_url(doc.source, self.links)
        return Source(
            title=doc.title,
            source=doc.source,
            passage=doc.text[p_start:p_end],
            quote=quote,
            score=round(hit.score, 4),
            start=p_start,
            end=p_end,
            quote_start=q_start,
            quote_end=q_end,
            quote_sentences=hi - lo + 1,
            page=at.page,
            line_start=lines.line_start,
            line_end=lines.line_end,
            section=at.section,
            url=cite_url(url, quote, at.page),
        )

    def confidence(
        self,
        question: str,
        hit: Hit,
        q_terms: TermWeights,
        top: Source,
        *,
        follow: FollowUp | None = None,
    ) -> tuple[float, float]:
        """How sure the bot is that the top passage answers, and the bar it must reach.

        With token evidence (the index keeps token vectors, so the hit was re-ranked):
        - the cosine of the question to the best sentence of the passage, plus
        - token_confidence_weight x the mean, over the question's words, of the cosine to
          the passage's best-matching token (MaxSim),
        compared with min_confidence. Both are cosines on the model's own scale, not the
        corpus's: unrelated text sits near 0.1-0.3, a paraphrase above 0.5.
        Without it: the best sentence's cosine plus the share of the question's idf weight the
        passage contains, compared with min_confidence_without_tokens.
        Either way, minus the question's penalties (question_penalty), and minus
        answer_type_penalty when a who-question's quote names no one (names_in, leaving out
        the corpus's own subject). A follow-up (follow) pays for both questions' words, and is
        a who-question when the one that frames it is (FollowUp.answer_frame).
        """
        s = self.settings
        if hit.token_score is not None:
            score = hit.sentence_score + s.token_confidence_weight * hit.token_score
            bar = s.min_confidence
        else:
            score = hit.sentence_score + self.coverage(q_terms, top.passage)
            bar = s.min_confidence_without_tokens
        asked = follow.whole() if follow else question
        score -= self.question_penalty(asked)
        frame = follow.answer_frame() if follow else question
        if WHO.search(frame) and not self.names_someone(top.quote, asked):
            score -= s.answer_type_penalty
        return float(score), bar

    def question_penalty(self, question: str) -> float:
        """What the question's own words cost, whatever passage answers: unknown_name_penalty
        when it names something (a capitalised word) the corpus never mentions, a question
        about someone else; unknown_term_penalty when it hinges on a rare word the corpus never
        uses ("tuple", "urlopen"), a question about something else. Kept for the last question:
        every further source asks again."""
        asked, penalty = self._asked
        if asked != question:
            lexical = self.lexical
            penalty = 0.0
            if lexical.unknown_names(question):
                penalty += self.settings.unknown_name_penalty
            if lexical.unknown_terms(question):
                penalty += self.settings.unknown_term_penalty
            self._asked = (question, penalty)
        return penalty

    def names_someone(self, quote: str, question: str) -> bool:
        """Whether the quote holds a name other than the question's own and the corpus's
        subject (a word in more than SUBJECT_SHARE of the passages)."""
        lexical = self.lexical
        return any(lexical.passage_share(w) <= SUBJECT_SHARE for w in names_in(quote, question))
