"""training/sweep_verifier.py brings trained weights back from a GPU machine as their
difference from the starting weights, int8 per row; training/dev_pairs.py scores the
development pools question by question."""

from pathlib import Path

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


def test_a_students_targets_are_its_teachers_mean_logit_on_train_rows_only(
    tmp_path, monkeypatch
) -> None:
    import json
    import math

    sweep = training_script("sweep_verifier")
    train_verifier = training_script("train_verifier")
    training_script("distill_targets")
    for name in sweep.PAIRS:
        rows = [
            {"question": "q1", "passage": "p1", "label": 1, "split": "train"},
            {"question": "q2", "passage": "p2", "label": 0, "split": "heldout"},
            {"question": "q3", "passage": "p3", "label": 0, "split": "train"},
        ]
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    logits = {"a": {"p1": 2.0, "p3": -1.0}, "b": {"p1": 0.0, "p3": -3.0}}

    class Teacher:  # what load_model gives, as far as soft_targets uses it
        def __init__(self, name: str) -> None:
            self.name = name

        def to(self, device: object) -> "Teacher":
            return self

    loaded: list[str] = []

    def load_model(n: int, p: Path) -> tuple[None, Teacher]:
        loaded.append(p.name)
        return None, Teacher(p.name)

    monkeypatch.setattr(train_verifier, "load_model", load_model)
    monkeypatch.setattr(
        train_verifier,
        "score",
        lambda model, tok, rows, n, size, device: [logits[model.name][r["passage"]] for r in rows],
    )
    read: dict = {}
    folder = sweep.soft_targets(tmp_path, [tmp_path / "a", tmp_path / "b"], "cpu", "kd", 0, read)
    for name in sweep.PAIRS:
        out = [json.loads(line) for line in (folder / name).read_text().splitlines()]
        assert [r["question"] for r in out] == ["q1", "q2", "q3"]
        assert out[0]["target"] == pytest.approx(1 / (1 + math.exp(-1.0)), abs=1e-6)
        assert out[2]["target"] == pytest.approx(1 / (1 + math.exp(2.0)), abs=1e-6)
        assert out[0]["teachers"] == [2.0, 0.0]
        assert "target" not in out[1]  # held-out rows are copied as they were
    # A second student sharing teacher a reads a's logits again, without scoring them again.
    other = sweep.soft_targets(tmp_path, [tmp_path / "a"], "cpu", "kd1", 0, read)
    assert loaded == ["a", "b"]
    out = [json.loads(line) for line in (other / sweep.PAIRS[0]).read_text().splitlines()]
    assert out[0]["teachers"] == [2.0] and out[2]["teachers"] == [-1.0]
