"""Fine-tuning the embedding model (training/train_embedder.py): which rows make its triples,
how batches keep a positive from standing as another question's negative, and the loss."""

import random

import pytest

from .conftest import training_script


def row(question, passage, kind, split="train", group="g"):
    return {"question": question, "passage": passage, "kind": kind, "split": split, "group": group}


def test_a_triple_is_a_train_positive_with_a_negative_of_its_own_question():
    train_embedder = training_script("train_embedder")
    rows = [
        row("Where is the cache?", "It is in ~/.cache.", "positive"),
        row("Where is the cache?", "Logs go to stderr.", "same_doc_negative"),
        row("Where is the cache?", "Unrelated page.", "corpus_negative"),  # not a hard negative
        row("What is the default port?", "Port 8080.", "natural_positive", group="h"),
        row("Held out?", "Yes.", "positive", split="heldout"),
        row("Sentence?", "One sentence.", "natural_sentence_positive"),  # sentences: not embedded
        row("No negative?", "Alone.", "hard_negative", group="x"),  # a negative, no positive
    ]
    got = train_embedder.triples(rows, random.Random(0))
    assert got == [
        train_embedder.Triple("Where is the cache?", "It is in ~/.cache.", "Logs go to stderr."),
        train_embedder.Triple("What is the default port?", "Port 8080.", None),
    ]


def test_a_batch_never_holds_one_text_twice_and_every_triple_is_used_once():
    train_embedder = training_script("train_embedder")
    Triple = train_embedder.Triple
    # SQuAD asks several questions of one paragraph: four share passage P.
    items = [Triple(f"q{i}", "P" if i < 4 else f"p{i}", f"n{i}") for i in range(12)]
    batches = list(train_embedder.batches(items, 4, random.Random(1)))
    for batch in batches:
        texts = [t for item in batch for t in (item.question, item.positive, item.negative)]
        assert len(texts) == len(set(texts))
    used = [item for batch in batches for item in batch]
    assert len(used) == len(set(used))
    # The four sharing P need four batches; the last one, too small to learn from, is left out.
    assert sum(item.positive == "P" for item in used) in (3, 4)
    assert len(used) >= 11


def test_the_loss_is_low_when_each_question_is_nearest_its_own_passage():
    torch = pytest.importorskip("torch")
    train_embedder = training_script("train_embedder")
    questions = torch.eye(3)
    right = torch.cat([torch.eye(3), torch.zeros(3, 3)])  # positives, then hard negatives
    crossed = torch.cat([torch.eye(3)[[1, 2, 0]], torch.eye(3)])
    assert train_embedder.ranking_loss(questions, right) < 0.01
    assert train_embedder.ranking_loss(questions, crossed) > 1.0
