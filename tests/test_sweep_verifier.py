"""training/sweep_verifier.py brings trained weights back from a GPU machine as their
difference from the starting weights, int8 per row; training/dev_pairs.py scores the
development pools question by question."""

import numpy as np
import pytest

from .conftest import training_script


def test_a_difference_sent_back_rebuilds_the_trained_weights() -> None:
    sweep = training_script("sweep_verifier")
    rng = np.random.default_rng(0)
    start = {
        "bert.encoder.layer.0.output.dense.weight": rng.normal(size=(8, 5)).astype(np.float32),
        "bert.embeddings.word_embeddings.weight": rng.normal(size=(10, 5)).astype(np.float32),
        "bert.embeddings.LayerNorm.bias": rng.normal(size=5).astype(np.float32),
        "bert.unchanged.weight": np.ones((3, 3), np.float32),
    }
    trained = {
        k: v + rng.normal(scale=0.01, size=v.shape).astype(np.float32) for k, v in start.items()
    }
    trained["bert.unchanged.weight"] = start["bert.unchanged.weight"].copy()
    # Word pieces no batch held (most of them): moved by weight decay alone, by one factor.
    words = "bert.embeddings.word_embeddings.weight"
    trained[words][3:] = start[words][3:] * np.float32(1 - 8e-4)
    trained["classifier.weight"] = rng.normal(size=(1, 5)).astype(np.float32)
    packed = sweep.quantise_delta(trained, start)
    assert packed["q/bert.encoder.layer.0.output.dense.weight"].dtype == np.int8
    assert not packed[f"q/{words}"][3:].any()  # sent as zeros: the decay factor rebuilds them

    class Npz(dict):  # what np.load gives: .files and [name]
        @property
        def files(self) -> list[str]:
            return list(self)

    # The fp32 start here differs from the GPU machine's fp16-rounded one by its rounding.
    here = {k: v.astype(np.float16).astype(np.float32) for k, v in start.items()}
    rebuilt = sweep.apply_delta(here, Npz(packed))
    assert set(rebuilt) == set(trained)
    for k, v in trained.items():
        row_step = np.abs(v - start.get(k, v)).max() / 127 if k in start else 0
        rounding = np.abs(here.get(k, v) - start.get(k, v)).max()
        assert np.abs(rebuilt[k] - v).max() <= row_step / 2 + rounding + 1e-7, k
    assert np.array_equal(rebuilt["classifier.weight"], trained["classifier.weight"])
    assert np.array_equal(rebuilt["bert.unchanged.weight"], here["bert.unchanged.weight"])


def test_dev_figures_read_each_question_by_its_best_passage() -> None:
    pytest.importorskip("sklearn")
    dev = training_script("dev_pairs")
    rows = [
        # answerable, its positive scored best: counts for top1
        {"group": "a", "label": 1, "kind": "natural_positive"},
        {"group": "a", "label": 0, "kind": "natural_negative"},
        # answerable, a negative scored above its positive
        {"group": "b", "label": 1, "kind": "natural_positive"},
        {"group": "b", "label": 0, "kind": "natural_negative"},
        # unanswerable: read by its best passage
        {"group": "c", "label": 0, "kind": "natural_unanswered"},
        {"group": "c", "label": 0, "kind": "natural_unanswered"},
    ]
    logits = [3.0, 1.0, 0.5, 2.0, -1.0, 1.0]
    fig = dev.question_figures(rows, logits)
    assert fig["answerable"] == 2 and fig["unanswerable"] == 1
    assert fig["top1"] == 0.5
    # a's positive (3.0) is above c's best (1.0); b's positive (0.5) is below it.
    assert fig["auc"] == 0.5
