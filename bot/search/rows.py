"""The rows of a stored index, read by name: passages, sentences and token vectors.

Code outside this module never indexes a row's columns by number: a passage is a PassageRow,
its columns of the whole table are PassageTable's named views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from bot.search.quantize import fixed_rotation, packed_width


class PassageRow(NamedTuple):
    """One passage: document number, character span in its text, and its sentences' rows."""

    doc: int
    start: int
    end: int
    first_sentence: int
    end_sentence: int

    @property
    def sentences(self) -> range:
        """Rows of the sentence table that make up the passage."""
        return range(self.first_sentence, self.end_sentence)


class SentenceRow(NamedTuple):
    """One sentence: document number and character span in its text."""

    doc: int
    start: int
    end: int


class PassageTable:
    """The passage rows, int64 (N, 5) in PassageRow's field order, read by name."""

    WIDTH = len(PassageRow._fields)

    def __init__(self, rows: np.ndarray | None = None) -> None:
        self.rows = np.zeros((0, self.WIDTH), np.int64) if rows is None else rows

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, i: int) -> PassageRow:
        return PassageRow(*(int(x) for x in self.rows[i]))

    @property
    def doc(self) -> np.ndarray:
        """Each passage's document number."""
        return self.rows[:, 0]

    @property
    def spans(self) -> np.ndarray:
        """(N, 2): each passage's start and end in its document's text."""
        return self.rows[:, 1:3]

    @property
    def sentence_ranges(self) -> np.ndarray:
        """(N, 2): each passage's first and past-the-end sentence row."""
        return self.rows[:, 3:5]


class SentenceTable:
    """The sentence rows, int64 (M, 3) in SentenceRow's field order, read by name."""

    WIDTH = len(SentenceRow._fields)

    def __init__(self, rows: np.ndarray | None = None) -> None:
        self.rows = np.zeros((0, self.WIDTH), np.int64) if rows is None else rows

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitem__(self, i: int) -> SentenceRow:
        return SentenceRow(*(int(x) for x in self.rows[i]))

    @property
    def doc(self) -> np.ndarray:
        """Each sentence's document number."""
        return self.rows[:, 0]


@dataclass
class TokenVectors:
    """Every passage's token vectors, quantized (bot.search.quantize): bits (T, dim / 8)
    uint8 and scales (T,) float16, passage i's rows being ranges[i]; rotation is the turn
    they were quantized after, which questions' tokens get too. Empty when not kept."""

    bits: np.ndarray
    scales: np.ndarray
    ranges: np.ndarray
    rotation: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> TokenVectors:
        """No token vectors (late interaction off)."""
        return cls(
            np.zeros((0, packed_width(dim)), np.uint8),
            np.zeros(0, np.float16),
            np.zeros((0, 2), np.int64),
            fixed_rotation(dim),
        )

    def __len__(self) -> int:
        return int(self.bits.shape[0])
