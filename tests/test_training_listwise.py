"""The verifier's training (training/train_verifier.py): with --listwise a question's
passages stay in one batch and the loss teaches which of them answers; and the one update
step every training script shares."""

import random

import pytest

from .conftest import training_script


def row(group: str, label: int, kind: str = "hard_negative", text: str = "p") -> dict:
    return {"question": f"q{group}", "passage": text, "label": label, "kind": kind, "group": group}


def rows() -> list[dict]:
    out = []
    for g in range(12):
        out.append(row(str(g), 1, "positive", "answer " * (g + 1)))
        out += [row(str(g), 0, text="other " * (g + k)) for k in range(3)]
        out.append(row(str(g), 1, "sentence_positive"))
        out.append(row(str(g), 0, "sentence_negative"))
    out.append(row("lonely", 0))  # a question with no positive: no ranking set
    return out


def test_ranking_sets_are_one_question_and_one_kind_family_with_both_labels() -> None:
    module = training_script("train_verifier")
    data = rows()
    sets = module.ranking_sets(data)
    assert len(sets) == 24  # 12 questions x (passages, sentences)
    for idx in sets:
        assert len({data[i]["group"] for i in idx}) == 1
        assert len({module.family(data[i]["kind"]) for i in idx}) == 1
        assert 0 < sum(data[i]["label"] for i in idx) < len(idx)
    assert all(data[i]["group"] != "lonely" for idx in sets for i in idx)


def test_group_batches_keep_each_set_whole_and_every_row_once() -> None:
    module = training_script("train_verifier")
    data = rows()
    lengths = [len(r["passage"]) for r in data]
    out = module.group_batches(data, 8, random.Random(0), lengths)
    flat = [i for batch in out for i in batch]
    assert sorted(flat) == list(range(len(data)))
    where = {i: b for b, batch in enumerate(out) for i in batch}
    for idx in module.ranking_sets(data):
        assert len({where[i] for i in idx}) == 1
    assert max(len(b) for b in out) <= 8


def test_the_listwise_loss_is_low_only_when_the_positive_ranks_first() -> None:
    torch = pytest.importorskip("torch")
    module = training_script("train_verifier")
    labels = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0])
    sets = [[0, 1, 2], [3, 4]]
    right = module.listwise_loss(torch.tensor([0.0, 5.0, 0.0, 4.0, -1.0]), labels, sets)
    wrong = module.listwise_loss(torch.tensor([5.0, 0.0, 0.0, -1.0, 4.0]), labels, sets)
    assert float(right) < 0.05 < 4.0 < float(wrong)
    # Raising every score alike changes nothing: it ranks, and leaves calibration to BCE.
    shifted = module.listwise_loss(torch.tensor([3.0, 8.0, 3.0, 7.0, 2.0]), labels, sets)
    assert float(shifted) == pytest.approx(float(right), abs=1e-6)
    assert float(module.listwise_loss(torch.zeros(2), torch.zeros(2), [])) == 0.0


def test_an_optimizer_step_clips_the_gradient_steps_the_rate_and_clears_the_gradient():
    torch = pytest.importorskip("torch")
    train_verifier = training_script("train_verifier")
    model = torch.nn.Linear(2, 2, bias=False)
    torch.nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    loss = 100 * model.weight.sum()  # a gradient of 100 in each of 4 weights: norm 200
    train_verifier.optimizer_step(model, loss, optimizer, scheduler)
    # Clipped to norm 1: 0.5 in each weight, one step of rate 1 against it.
    assert torch.allclose(model.weight, torch.full((2, 2), -0.5))
    assert optimizer.param_groups[0]["lr"] == 0.5
    assert model.weight.grad is None
