"""Answer a question set and measure it: recall@k, MRR@10, quote hits, declines."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The module, not its names: tests swap bot.app.make_embedder for a fake, and evaluate_files
# must build the embedder the same way the other front ends do.
from bot import app
from bot.answer.compose import Answerer, Source
from bot.answer.verify import load_verifier
from bot.answer.wording import clean_question
from bot.config import Settings
from bot.errors import BotError
from bot.evaluation.data import (
    contains_answer,
    in_split,
    passages_as_documents,
    read_jsonl,
    write_jsonl,
)
from bot.evaluation.memo import cached_index, memo_embedder
from bot.ingest.corpus import load_corpus
from bot.search.retrieval import Retriever
from bot.search.store import Index

log = logging.getLogger(__name__)


@dataclass
class Row:
    """One question's outcome."""

    ranked_docs: list[str]
    gold: list[str]
    answers: list[str]
    answerable: bool
    answered: bool
    top_passage: str
    quote: str
    quote_sentences: int
    question: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)  # as `ask --json`, + offsets
    in_pool: bool = False  # an answer is in one of the passages the verifier may read

    def details(self) -> dict[str, Any]:
        """One line of `eval --details`: the question, its gold and what the bot quoted."""
        return {
            "question": self.question,
            "gold": self.gold,
            "answers": self.answers,
            "answerable": self.answerable,
            "answered": self.answered,
            "ranked": self.ranked_docs[:5],
            "answer_in_quote": contains_answer(self.quote, self.answers),
            "results": self.results,
        }


def top_result(source: Source) -> dict[str, Any]:
    """The public fields of a quoted source plus the quote's offsets in its document."""
    return {**source.public(), "quote_start": source.quote_start, "quote_end": source.quote_end}


def run_eval(
    answerer: Answerer,
    questions: Sequence[dict[str, Any]],
    query_vectors: np.ndarray,
    query_tokens: Sequence[np.ndarray] | None = None,
    *,
    depth: int = 60,
) -> list[Row]:
    """Answer every question; keep what the metrics need."""
    index = answerer.index
    rows = []
    for i, (q, qv) in enumerate(zip(questions, query_vectors, strict=True)):
        text = clean_question(str(q["question"]), answerer.settings.max_question_chars)
        qt = query_tokens[i] if query_tokens is not None else None
        hits = answerer.retriever.search(text, depth, query_vector=qv, query_tokens=qt)
        ans = answerer.compose(text, qv, hits, answerer.k)  # the same hits, not a second search
        top = ans.results[0] if ans.results else None
        # Documents in the order the bot would quote them: the top result's first (the
        # verifier may have chosen it from further down), then the retrieval order.
        ranked: list[str] = [top.source] if top else []
        for h in hits:
            src = index.passage_document(h.passage).source
            if src not in ranked:
                ranked.append(src)
        answers = [str(a) for a in q.get("answers") or []]
        pool = hits[: answerer.settings.verifier_pool]
        in_pool = any(contains_answer(index.passage_text(h.passage), answers) for h in pool)
        rows.append(
            Row(
                ranked_docs=ranked,
                gold=[str(g) for g in q.get("gold") or []],
                answers=answers,
                answerable=bool(q.get("answerable", True)),
                answered=ans.answered,
                top_passage=top.passage if top else "",
                quote=top.quote if top else "",
                quote_sentences=top.quote_sentences if top else 0,
                question=text,
                results=[top_result(s) for s in ans.results],
                in_pool=in_pool,
            )
        )
    return rows


def metrics(rows: Sequence[Row]) -> dict[str, Any]:
    """recall@1/5/20 and MRR@10 over rows with gold; answer hits; decline shares."""
    out: dict[str, Any] = {"questions": len(rows)}
    gold_rows = [r for r in rows if r.gold]
    if gold_rows:
        for n in (1, 5, 20):
            out[f"recall@{n}"] = float(
                np.mean([bool(set(r.ranked_docs[:n]) & set(r.gold)) for r in gold_rows])
            )
        rr = []
        for r in gold_rows:
            ranks = [i for i, d in enumerate(r.ranked_docs[:10], 1) if d in r.gold]
            rr.append(1.0 / ranks[0] if ranks else 0.0)
        out["mrr@10"] = float(np.mean(rr))
    ans_rows = [r for r in rows if r.answers and r.answerable]
    if ans_rows:
        out["answer_in_passage@1"] = float(
            np.mean([contains_answer(r.top_passage, r.answers) for r in ans_rows])
        )
        out["answer_in_quote@1"] = float(
            np.mean([contains_answer(r.quote, r.answers) for r in ans_rows])
        )
        # What choosing among the verifier's pool can reach at best.
        out["answer_in_pool"] = float(np.mean([r.in_pool for r in ans_rows]))
        out["max_quote_sentences"] = max(r.quote_sentences for r in rows)
    unanswerable = [r for r in rows if not r.answerable]
    if unanswerable:
        out["declined_unanswerable"] = float(np.mean([not r.answered for r in unanswerable]))
    answerable = [r for r in rows if r.answerable]
    if answerable:
        out["wrongly_declined"] = float(np.mean([not r.answered for r in answerable]))
    return out


def question_encoding(
    retriever: Retriever, texts: list[str], cache_dir: Path
) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Encode the questions once per (model, question set), cached beside the eval index."""
    late = retriever.uses_tokens
    key = hashlib.sha256(json.dumps([retriever.embedder.name, late, texts]).encode())
    path = cache_dir / f"questions-{key.hexdigest()[:16]}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            vecs, pieces, ends = z["vectors"], z["tokens"], z["ends"]
        if vecs.shape[0] == len(texts):
            tokens = np.split(pieces, ends[:-1]) if late else None
            return vecs, tokens
    except (OSError, ValueError, KeyError):
        pass
    vecs, tokens = retriever.encode(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    pieces = np.concatenate(tokens) if tokens else np.zeros((0, vecs.shape[1]), np.float16)
    ends = np.cumsum([len(t) for t in tokens]) if tokens else np.zeros(0, np.int64)
    np.savez(tmp, vectors=vecs, tokens=pieces, ends=ends)
    tmp.replace(path)
    return vecs, tokens


def write_details(path: Path, rows: Sequence[Row]) -> None:
    """Each question's outcome as one JSON line, written whole or not at all."""
    write_jsonl(path, (row.details() for row in rows))


def evaluate_files(
    settings: Settings,
    passages: Path | None,
    questions: Path,
    *,
    split: str = "all",
    docs: Path | None = None,
    details: Path | None = None,
    group_by: str | None = None,
) -> dict[str, Any]:
    """Evaluate questions against passages, a folder of documents, or the seeds index.

    With docs, the folder is read by the same readers and chunked as `index` would, and a
    question's gold names files by their path relative to the folder. With group_by, the
    metrics are also given per value of that field of the questions (e.g. a format).
    """
    if not questions.exists():
        raise BotError(f"Question file {questions} does not exist")
    if passages is not None and docs is not None:
        raise BotError("Give --passages or --docs, not both")
    rows = question_rows(questions)
    index, answerer, extra = _open_for_eval(settings, passages, docs)
    if docs is not None:
        known = {d.source for d in index.documents}
        missing = [g for r in rows for g in r.get("gold") or [] if str(g) not in known]
        if missing:
            log.warning(
                "%d gold files are not in %s (first: %s); their questions count as misses.",
                len(missing),
                docs,
                missing[0],
            )
    if split != "all":
        rows = in_split(rows, index.documents, split)
    texts = [str(r["question"]) for r in rows]
    vecs, tokens = question_encoding(answerer.retriever, texts, settings.cache_dir)
    outcomes = run_eval(answerer, rows, vecs, tokens)
    if details is not None:
        write_details(details, outcomes)
    result = {"split": split, **extra, **metrics(outcomes)}
    if group_by:
        result |= _metrics_by(group_by, rows, outcomes)
    return result


def question_rows(questions: Path) -> list[dict[str, Any]]:
    """The rows of a question file, each checked to hold a question; a row's `gold` and
    `answers` may each be one string or a list of them, and come back as a list (a string
    read as a list would be its characters: any quote holding an "e" would hold the answer)."""
    rows = read_jsonl(questions)
    for n, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not str(r.get("question", "")).strip():
            raise BotError(f"{questions}: line {n} has no question")
        for key in ("gold", "answers"):
            value = r.get(key)
            if isinstance(value, str):
                r[key] = [value]
            elif value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise BotError(
                    f"{questions}: line {n}: {key} must be a string or a list of strings"
                )
    return rows


def _open_for_eval(
    settings: Settings, passages: Path | None, docs: Path | None
) -> tuple[Index, Answerer, dict[str, Any]]:
    """The index and Answerer to evaluate: a cached index of the passages or the documents,
    else the seeds index; and what the result reports about the documents read."""
    extra: dict[str, Any] = {}
    documents = None
    if passages is not None:
        if not passages.exists():
            raise BotError(f"Passage file {passages} does not exist")
        documents = passages_as_documents(read_jsonl(passages))
    elif docs is not None:
        documents, skipped = load_corpus(docs, cache_dir=settings.cache_dir)
        extra = {"documents": len(documents), "skipped_files": len(skipped)}
    if documents is None:
        loaded, _ = app.open_index(settings, app.make_embedder(settings), update=True)
        return loaded.index, loaded.answerer, extra
    embedder = app.make_embedder(settings)
    if docs is not None:  # the same content read from another format: embed it once
        embedder = memo_embedder(embedder, settings.cache_dir)
    index = cached_index(documents, embedder, settings, progress=True)
    verifier = load_verifier() if settings.answer.verifier else None
    answerer = Answerer(index, embedder, settings.retrieval, settings.answer, verifier=verifier)
    return index, answerer, extra


def _metrics_by(
    group_by: str, rows: Sequence[dict[str, Any]], outcomes: Sequence[Row]
) -> dict[str, Any]:
    """The metrics per value of the questions' group_by field, keyed "FIELD=VALUE"."""
    groups: dict[str, list[Row]] = {}
    for question, outcome in zip(rows, outcomes, strict=True):
        if group_by in question:
            groups.setdefault(str(question[group_by]), []).append(outcome)
    return {f"{group_by}={value}": metrics(members) for value, members in sorted(groups.items())}
