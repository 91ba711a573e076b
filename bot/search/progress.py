"""One labelled progress bar for a whole index build: files read, then passages embedded.

The embedder is wrapped so that it embeds in slices with its own bars off (no unlabelled
"Batches" bars from sentence-transformers) and the one bar advances after each slice, with a
total and tqdm's estimate of the time left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

# Texts per model call under the bar: small enough to advance every few seconds on a CPU,
# large enough that sorting by length within a call still groups similar lengths.
SLICE = 512


class BuildProgress:
    """The bar: reading(done, total) while files are read, plan(p, s) then embedding.
    Off when standard error is not a terminal (logs and pipes get no carriage returns)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: tqdm[Any] | None = None

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
        desc = f"{self.label}: embedding {passages:,} passages and {sentences:,} sentences"
        if self.bar is None:
            self.bar = tqdm(total=passages + sentences, desc=desc, unit=" texts", disable=None)
        else:
            self.bar.reset(total=passages + sentences)
            self.bar.set_description(desc)
            self.bar.unit = " texts"

    def advance(self, n: int) -> None:
        """n more texts embedded."""
        if self.bar is not None and self.bar.total:
            self.bar.update(min(n, self.bar.total - self.bar.n))

    def close(self) -> None:
        """End the bar (leaving its last line on screen)."""
        if self.bar is not None:
            self.bar.close()


class ProgressEmbedder:
    """Forwards everything to an embedder; its embedding calls run in slices that advance
    the bar. Methods the inner embedder lacks stay missing (protocol checks see the truth)."""

    def __init__(self, inner: Any, bar: BuildProgress) -> None:
        self.inner = inner
        self.bar = bar

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)  # AttributeError for what the inner lacks
        return {"embed_tokens": self._embed_tokens, "embed_spans": self._embed_spans}.get(
            name, attr
        )

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """inner.embed in slices, advancing the bar."""
        if not texts:
            return np.asarray(self.inner.embed(texts))
        parts = []
        for lo in range(0, len(texts), SLICE):
            part = list(texts[lo : lo + SLICE])
            parts.append(self.inner.embed(part, progress=False))
            self.bar.advance(len(part))
        return np.concatenate(parts)

    def _embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        if query or not texts:
            vecs, pieces = self.inner.embed_tokens(texts, query=query)
            return vecs, pieces
        vectors, pieces = [], []
        for lo in range(0, len(texts), SLICE):
            part = list(texts[lo : lo + SLICE])
            v, p = self.inner.embed_tokens(part, progress=False)
            vectors.append(v)
            pieces.extend(p)
            self.bar.advance(len(part))
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
        for lo in range(0, len(texts), SLICE):
            part, part_spans = list(texts[lo : lo + SLICE]), spans[lo : lo + SLICE]
            v, t, p = self.inner.embed_spans(part, part_spans, progress=False)
            vectors.append(v)
            tokens.extend(t)
            pooled.extend(p)
            # One pass over the passages also gives their sentences' vectors.
            self.bar.advance(len(part) + sum(len(s) for s in part_spans))
        return np.concatenate(vectors), tokens, pooled
