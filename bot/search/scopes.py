"""Which passages an asker may read: the [[scopes]] of the settings applied to an index.

A question is asked from a place (a channel, a DM, the owner's terminal) that may read some
scopes, by name. Documents in no scope are public. `Readable` is the set of scope names a place
may read, or None for everything (the owner). The answer layer restricts retrieval, re-ranking
and the decline decision to the passages `passage_mask` allows, so nothing of another scope's
documents can shape an answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.config import Scope

# The scope names a place may read; None: every document (the bot's owner).
Readable = frozenset[str] | None
PUBLIC: frozenset[str] = frozenset()  # a place that may read no scope: public documents only


def scopes_of(source: str, scopes: Sequence[Scope]) -> frozenset[str]:
    """The names of the scopes holding the document at source (empty: it is public)."""
    return frozenset(s.name for s in scopes if s.holds(source))


def readable_documents(
    sources: Sequence[str], scopes: Sequence[Scope], readable: Readable
) -> np.ndarray:
    """One bool per document: whether a place that may read `readable` may quote it. A
    document in several scopes (with the same rules: the settings check that) needs one."""
    if readable is None:
        return np.ones(len(sources), dtype=bool)
    return np.fromiter(
        (
            not held or bool(held & readable)
            for held in (scopes_of(source, scopes) for source in sources)
        ),
        dtype=bool,
        count=len(sources),
    )


def passage_mask(
    sources: Sequence[str], passage_docs: np.ndarray, scopes: Sequence[Scope], readable: Readable
) -> np.ndarray | None:
    """One bool per passage (passage_docs: each passage's document), or None when every
    passage may be read (no scopes apply): the fast path, identical to no restriction."""
    if readable is None or not scopes:
        return None
    docs = readable_documents(sources, scopes, readable)
    if docs.all():
        return None
    return docs[np.asarray(passage_docs, dtype=np.int64)]
