"""Embeddings and indexes kept between evaluation runs, so the same content is embedded once."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from bot.config import Settings
from bot.errors import IndexCorruptError, IndexMissingError, IndexOutdatedError
from bot.ingest.corpus import Document
from bot.search.build import build_index
from bot.search.embedder import Embedder, SpanEmbedder
from bot.search.store import FORMAT_VERSION, Index, params_for

log = logging.getLogger(__name__)


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
    embedded is read back instead of embedded again. Token passes are not kept (too big)."""

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
        """Tokens per text, as the inner embedder counts them."""
        return self.inner.count_tokens(texts)

    def embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The inner embedder's pooled and token vectors."""
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
    on their own: not what the bot does). Each passage's pass (its vector, tokens and
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
    except (IndexMissingError, IndexOutdatedError, IndexCorruptError):
        pass
    index, _ = build_index(docs, embedder, settings.chunking, progress=progress)
    index.save(folder)
    return index
