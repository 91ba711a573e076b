"""Timing and summarising measurements."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def summary(xs: list[float]) -> dict[str, float]:
    """Median, min, max, p50, p95 and count of measurements (in their own unit)."""
    if not xs:
        return {"n": 0}
    a = np.asarray(xs, dtype=np.float64)
    return {
        "median": float(np.median(a)),
        "min": float(a.min()),
        "max": float(a.max()),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "n": len(xs),
    }


def keep_first(out: list[Any], fn: Callable[..., Any], *args: Any) -> None:
    """Call fn(*args) and keep the first item of what it returns (timed with the call)."""
    out.append(fn(*args)[0])


def timed(fn: Callable[[], Any]) -> float:
    """Seconds fn takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def recall_at(found: list[np.ndarray], truth: list[np.ndarray], k: int = 10) -> float:
    """Mean share of the true top k that was found."""
    return float(
        np.mean(
            [
                len(set(f[:k].tolist()) & set(t[:k].tolist())) / k
                for f, t in zip(found, truth, strict=True)
            ]
        )
    )
