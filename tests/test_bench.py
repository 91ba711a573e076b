"""The benchmark's pure helpers (timings themselves are never asserted)."""

import numpy as np
import pytest

from bot.bench import recall_at, run_bench, summary
from bot.errors import BotError


def test_summary_reports_median_min_max_and_percentiles():
    s = summary([3.0, 1.0, 2.0, 10.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.5, 1.0, 10.0, 4)
    assert s["p50"] == 2.5
    assert 2.5 < s["p95"] <= 10.0
    assert summary([]) == {"n": 0}


def test_recall_at_counts_shared_ids():
    truth = [np.arange(10), np.arange(10)]
    found = [np.arange(10)[::-1], np.arange(5, 15)]
    assert recall_at(found, truth) == 0.75


def test_an_unknown_bench_step_is_named_with_the_steps(settings):
    with pytest.raises(BotError, match=r"No bench step 'indexing'; the steps are .*index_build"):
        run_bench(settings, only=["indexing"])
