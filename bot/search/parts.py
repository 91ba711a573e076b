"""The files an index version holds beside its matrices, as the manifest describes them.

Each part is written by its own module (bot.search.onnx_embedder, bot.search.ann) and stamped
in manifest.json under its key; the store reads the stamp back into these records, so a part
is either whole and typed or absent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar


@dataclass(frozen=True)
class QueryEncoderPart:
    """The ONNX export of the passage model and its tokenizer: questions are embedded with
    onnxruntime, without torch."""

    file: str
    sha256: str
    bytes: int
    opset: int
    tokenizer: str
    tokenizer_sha256: str
    weights: str
    model: str
    dim: int
    max_tokens: int


@dataclass(frozen=True)
class AnnPart:
    """A usearch HNSW graph over the passage vectors (large corpora)."""

    file: str
    library: str
    metric: str
    dtype: str
    connectivity: int
    expansion_add: int
    rows: int


def to_stamp(part: QueryEncoderPart | AnnPart) -> dict[str, Any]:
    """The part as its manifest entry."""
    return asdict(part)


Part = TypeVar("Part", QueryEncoderPart, AnnPart)


def from_stamp(cls: type[Part], stamp: Any) -> Part:
    """A part read back from its manifest entry; ValueError when the entry is not one."""
    names = {f.name for f in fields(cls)}
    if not isinstance(stamp, dict) or set(stamp) != names:
        raise ValueError(f"the manifest's {cls.__name__} entry is not one: {stamp!r}")
    return cls(**stamp)
