"""Retrieval and answer quality over a question set: recall@k, MRR@10, quote hits, declines."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.answer.compose import Answerer, Source, clean_question
from bot.config import Settings
from bot.errors import BotError, IndexCorruptError, IndexMissingError
from bot.ingest.corpus import Document
from bot.search.embedder import Embedder, SpanEmbedder
from bot.search.index import FORMAT_VERSION, Index, build_index, params_for
from bot.search.retrieval import Retriever

log = logging.getLogger(__name__)

_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2032": "'", "`": "'"}
)
_SPACE = re.compile(r"\s+")


def normalise_answer(text: str) -> str:
    """Lower-case, unify quote marks and whitespace for answer matching."""
    return _SPACE.sub(" ", text.translate(_QUOTES).lower()).strip()


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Whether text holds one of answers, case- and quote-mark-insensitive."""
    hay = normalise_answer(text)
    return any(needle and needle in hay for needle in map(normalise_answer, answers))


def split_of(title: str) -> str:
    """The fixed tuning/report split, by article title: a third of articles are for tuning."""
    return "tune" if zlib.crc32(title.encode("utf-8")) % 3 == 0 else "report"


def in_split(
    rows: Sequence[dict[str, Any]], documents: Sequence[Document], split: str
) -> list[dict[str, Any]]:
    """The question rows of split ("tune" or "report"). A row may name its part itself (a
    rendered benchmark, whose file titles are the readers' to choose); otherwise it is its
    first gold article's, by title, fixed in split_of."""
    titles = {d.source: d.title for d in documents}
    return [
        r
        for r in rows
        if (r.get("split") or (r.get("gold") and split_of(titles.get(str(r["gold"][0]), ""))))
        == split
    ]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; a bad line is an error naming the line."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise BotError(f"{path}:{n} is not valid JSON ({exc.msg})") from exc
    return rows


def passages_as_documents(rows: Sequence[dict[str, Any]]) -> list[Document]:
    """Each benchmark passage becomes one document, so metrics rank whole passages."""
    docs = []
    for row in rows:
        text = str(row["text"])
        docs.append(
            Document(
                source=str(row["id"]),
                title=str(row.get("title") or row["id"]).replace("_", " "),
                text=text,
                sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            )
        )
    return docs


def _first_missing(keys: Sequence[str], known: Callable[[str], bool]) -> list[int]:
    """The position of the first occurrence of each key that is not known, in order."""
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k not in first and not known(k):
            first[k] = i
    return list(first.values())


class MemoEmbedder:
    """An embedder whose embed() rows are kept on disk by text, for evaluations that index the
    same content several times (one benchmark rendered in several formats): a sentence already
    embedded is read back instead of embedded again. Word-piece passes are not kept (too big)."""

    def __init__(self, inner: Embedder, folder: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = (
            folder / f"embed-memo-{hashlib.sha256(inner.name.encode()).hexdigest()[:12]}.npz"
        )

    @property
    def dim(self) -> int:
        """The inner embedder's dimension."""
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        """The inner embedder's window."""
        return self.inner.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, as the inner embedder counts them."""
        return self.inner.count_tokens(texts)

    def embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The inner embedder's pooled and word-piece vectors."""
        return self.inner.embed_tokens(texts, query=query, progress=progress)  # type: ignore[attr-defined,no-any-return]  # built only around a TokenEmbedder

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Unit rows for texts: those seen before from disk, the others from the model."""
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        old_keys = np.zeros(0, dtype="U40")
        old_vecs = np.zeros((0, self.dim), dtype=np.float32)
        try:
            with np.load(self.path, allow_pickle=False) as z:
                old_keys, old_vecs = z["keys"], z["vectors"]
        except (OSError, ValueError, KeyError):
            pass
        known: dict[str, np.ndarray] = dict(zip(old_keys.tolist(), old_vecs, strict=True))
        missing = _first_missing(keys, lambda k: k in known)
        if missing:
            fresh = self.inner.embed([texts[i] for i in missing], progress=progress)
            known.update(zip([keys[i] for i in missing], fresh, strict=True))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(
                tmp,
                keys=np.concatenate([old_keys, np.array([keys[i] for i in missing], dtype="U40")]),
                vectors=np.concatenate([old_vecs, fresh]).astype(np.float32),
            )
            tmp.replace(self.path)
        log.info("Embedded %d texts, read %d back", len(missing), len(texts) - len(missing))
        if not texts:
            return old_vecs[:0]
        return np.stack([known[k] for k in keys]).astype(np.float32)


class MemoSpanEmbedder(MemoEmbedder):
    """A MemoEmbedder around a SpanEmbedder: it pools sentence vectors from the passages' pass,
    as an index build with the model does (without embed_spans a build would embed sentences
    on their own: not what the bot does). Each passage's pass (its vector, word pieces and
    span vectors) is kept on disk by text and spans, so a benchmark rendered in several formats
    runs the model once over passages that read the same."""

    def __init__(self, inner: SpanEmbedder, folder: Path) -> None:
        super().__init__(inner, folder)
        self.spans_inner = inner
        self.span_dir = self.path.with_suffix("").with_name(self.path.stem + "-spans")

    def embed_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """The inner embed_spans, each text's part read back from disk when seen before."""
        keys = [
            hashlib.sha1(json.dumps([t, [list(x) for x in sp]]).encode("utf-8")).hexdigest()
            for t, sp in zip(texts, spans, strict=True)
        ]
        missing = _first_missing(keys, lambda k: self._span_file(k).exists())
        if missing:
            vecs, pieces, pooled = self.spans_inner.embed_spans(
                [texts[i] for i in missing], [spans[i] for i in missing], progress=progress
            )
            self.span_dir.mkdir(parents=True, exist_ok=True)
            for n, i in enumerate(missing):
                tmp = self._span_file(keys[i]).with_suffix(".tmp.npz")
                np.savez(tmp, vector=vecs[n], pieces=pieces[n], pooled=pooled[n])
                tmp.replace(self._span_file(keys[i]))
        log.info(
            "Ran the model over %d passages, read %d back", len(missing), len(texts) - len(missing)
        )
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), [], []
        out_v, out_t, out_p = [], [], []
        for k in keys:
            with np.load(self._span_file(k), allow_pickle=False) as z:
                out_v.append(z["vector"])
                out_t.append(z["pieces"])
                out_p.append(z["pooled"])
        return np.stack(out_v), out_t, out_p

    def _span_file(self, key: str) -> Path:
        return self.span_dir / f"{key}.npz"


def memo_embedder(inner: Embedder, folder: Path) -> MemoEmbedder:
    """The MemoEmbedder that keeps inner's way of embedding passages and sentences."""
    if isinstance(inner, SpanEmbedder):
        return MemoSpanEmbedder(inner, folder)
    return MemoEmbedder(inner, folder)


def _doc_key(doc: Document) -> list[str]:
    """What identifies a document's index entries: a file's hash alone does not say what a
    reader extracted from it, so the extracted document is hashed too when it differs."""
    key = [doc.source, doc.title, doc.sha256]
    text_hash = hashlib.sha256(doc.text.encode("utf-8")).hexdigest()
    if text_hash != doc.sha256:  # read from a file, not a benchmark passage
        key.append(hashlib.sha256(repr(doc).encode("utf-8")).hexdigest())
    return key


def cached_index(
    docs: Sequence[Document], embedder: Embedder, settings: Settings, *, progress: bool
) -> Index:
    """An index of docs, reused from the cache when content, model and settings match."""
    params = params_for(embedder, settings.chunking)
    key = hashlib.sha256(
        json.dumps([FORMAT_VERSION, asdict(params), [_doc_key(d) for d in docs]]).encode()
    )
    folder = settings.cache_dir / f"eval-{key.hexdigest()[:16]}"
    try:
        return Index.load(folder)
    except (IndexMissingError, IndexCorruptError):
        pass
    index, _ = build_index(docs, embedder, settings.chunking, progress=progress)
    index.save(folder)
    return Index.load(folder)


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
        ranked: list[str] = []
        for h in hits:
            src = index.documents[int(index.passages[h.passage, 0])].source
            if src not in ranked:
                ranked.append(src)
        ans = answerer.compose(text, qv, hits, answerer.k)  # the same hits, not a second search
        top = ans.results[0] if ans.results else None
        rows.append(
            Row(
                ranked_docs=ranked,
                gold=[str(g) for g in q.get("gold") or []],
                answers=[str(a) for a in q.get("answers") or []],
                answerable=bool(q.get("answerable", True)),
                answered=ans.answered,
                top_passage=top.passage if top else "",
                quote=top.quote if top else "",
                quote_sentences=top.quote_sentences if top else 0,
                question=text,
                results=[top_result(s) for s in ans.results],
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.details(), ensure_ascii=False) + "\n")
    tmp.replace(path)
