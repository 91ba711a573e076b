"""One labelled progress bar for a whole index build: files read, then passages embedded.

The embedder is wrapped so that it embeds in slices with its own bars off (no unlabelled
"Batches" bars from sentence-transformers) and the one bar advances after each slice, with a
total and tqdm's estimate of the time left. The same slicing lets a background update stop
between slices when its front end quits (stop, raising Cancelled), instead of the process
ending in the middle of a model call.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

# Texts per model call under the bar: small enough to advance every few seconds on a CPU,
# large enough that sorting by length within a call still groups similar lengths.
SLICE = 512


class Cancelled(Exception):
    """A build stopped between slices because its stop event was set."""


class BuildProgress:
    """The bar: reading(done, total) while files are read, plan(p, s) then embedding.
    Off when standard error is not a terminal (logs and pipes get no carriage returns)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: tqdm[Any] | None = None
        # Texts embedded while files are still read (bot.search.build's waves) are not counted:
        # the bar counts files until plan().
        self.embedding = False

    def reading(self, done: int, total: int) -> None:
        """Files read so far, of total."""
        if self.bar is None:
            self.bar = tqdm(
                total=total, desc=f"{self.label}: reading files", unit=" files", disable=None
            )
        self.bar.n = done
        self.bar.refresh()

    def plan(self, passages: int, sentences: int) -> None:
        """From now on the bar counts texts embedded: passages, then their sentences."""
        self.embedding = True
        desc = f"{self.label}: embedding {passages:,} passages and {sentences:,} sentences"
        if self.bar is None:
            self.bar = tqdm(total=passages + sentences, desc=desc, unit=" texts", disable=None)
        else:  # unit and label first: reset() redraws the bar at once
            self.bar.unit = " texts"
            self.bar.set_description(desc, refresh=False)
            self.bar.reset(total=passages + sentences)

    def advance(self, n: int) -> None:
        """n more texts embedded."""
        if self.bar is not None and self.bar.total and self.embedding:
            self.bar.update(min(n, self.bar.total - self.bar.n))

    def close(self) -> None:
        """End the bar (leaving its last line on screen)."""
        if self.bar is not None:
            self.bar.close()


class ProgressEmbedder:
    """Forwards everything to an embedder; its embedding calls run in slices that advance
    the bar (if any) and, once stop is set, raise Cancelled before the next slice. Methods the
    inner embedder lacks stay missing (protocol checks see the truth)."""

    def __init__(
        self,
        inner: Any,
        bar: BuildProgress | None,
        *,
        stop: threading.Event | None = None,
        slice_size: int = SLICE,
    ) -> None:
        self.inner = inner
        self.bar = bar
        self.stop = stop
        self.slice_size = slice_size

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)  # AttributeError for what the inner lacks
        return {
            "embed_tokens": self._embed_tokens,
            "embed_spans": self._embed_spans,
            "count_tokens": self._count_tokens,  # chunking a large file can be stopped too
        }.get(name, attr)

    def _count_tokens(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self.inner.count_tokens(*args, **kwargs)

    def _slices(self, n: int) -> range:
        return range(0, n, self.slice_size)

    def _check(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Cancelled("stopped")

    def _advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(n)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """inner.embed in slices, advancing the bar."""
        if not texts:
            return np.asarray(self.inner.embed(texts))
        parts = []
        for lo in self._slices(len(texts)):
            self._check()
            part = list(texts[lo : lo + self.slice_size])
            parts.append(self.inner.embed(part, progress=False))
            self._advance(len(part))
        return np.concatenate(parts)

    def _embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        if query or not texts:
            vecs, pieces = self.inner.embed_tokens(texts, query=query)
            return vecs, pieces
        vectors, pieces = [], []
        for lo in self._slices(len(texts)):
            self._check()
            part = list(texts[lo : lo + self.slice_size])
            v, p = self.inner.embed_tokens(part, progress=False)
            vectors.append(v)
            pieces.extend(p)
            self._advance(len(part))
        return np.concatenate(vectors), pieces

    def _embed_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        *,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        if not texts:
            vecs, pieces, pooled = self.inner.embed_spans(texts, spans)
            return vecs, pieces, pooled
        vectors, tokens, pooled = [], [], []
        for lo in self._slices(len(texts)):
            self._check()
            part, part_spans = (
                list(texts[lo : lo + self.slice_size]),
                spans[lo : lo + self.slice_size],
            )
            v, t, p = self.inner.embed_spans(part, part_spans, progress=False)
            vectors.append(v)
            tokens.extend(t)
            pooled.extend(p)
            # One pass over the passages also gives their sentences' vectors.
            self._advance(len(part) + sum(len(s) for s in part_spans))
        return np.concatenate(vectors), tokens, pooled
