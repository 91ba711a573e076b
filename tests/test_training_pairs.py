"""Verifier training pairs: SQuAD's (training/squad_pairs.py), where the answer's own passage
with its answer taken out is a negative on the question's very topic, and the natural
questions' (training/natural_pairs.py), labelled over the bot's own pool; and the soft
targets of an ensemble of verifiers (training/distill_targets.py)."""

import dataclasses
import json
import math

import pytest

from bot.evaluation.data import passages_as_documents
from bot.search.build import build_index

from .conftest import training_script

TEXT = (
    "The tower was finished in 1889 for the fair. It is made of wrought iron. "
    "Its designer was Gustave Eiffel. Visitors climb it every day."
)


def test_the_answer_removed_passage_keeps_the_topic_without_the_answer(settings, fake_embedder):
    squad_pairs = training_script("squad_pairs")
    docs = passages_as_documents([{"id": "p1", "title": "Tower", "text": TEXT}])
    chunking = dataclasses.replace(settings.chunking, target_tokens=200)  # one passage
    index, _ = build_index(docs, fake_embedder, chunking)
    [passage] = range(len(index))
    rest = squad_pairs.answer_removed(index, passage, ["Gustave Eiffel"])
    assert rest is not None and "Eiffel" not in rest and "designer" not in rest
    assert "wrought iron" in rest and "Visitors climb it every day." in rest
    # No sentence holds the answer: no such negative; nor when under two sentences remain.
    assert squad_pairs.answer_removed(index, passage, ["Paris"]) is None
    assert squad_pairs.answer_removed(index, passage, ["1889", "iron", "Eiffel"]) is None


def test_answer_removed_pairs_are_reported_apart_from_passages():
    train_verifier = training_script("train_verifier")
    assert train_verifier.family("answer_removed") == "removed"
    assert train_verifier.family("hard_negative") == "passage"
    assert train_verifier.family("sentence_negative") == "sentence"


NATURAL_DOCS = {
    "guide.md": (
        "# Cache\n\nThe cache lives in the home folder. It keeps every download.\n\n"
        "# Retries\n\nA failed download is retried three times before the tool gives up.\n"
    ),
    "faq.md": "# Questions\n\nThe tool reads its settings from a file named tool.toml.\n",
}


def natural_answerer(settings, fake_embedder):
    from bot.answer.compose import Answerer

    docs = passages_as_documents(
        [{"id": name, "title": name, "text": text} for name, text in NATURAL_DOCS.items()]
    )
    chunking = dataclasses.replace(settings.chunking, target_tokens=12)  # a passage a section
    index, _ = build_index(docs, fake_embedder, chunking)
    return Answerer(index, fake_embedder, settings.retrieval, settings.answer)


def test_natural_pairs_label_the_pool_by_the_answer_strings(settings, fake_embedder):
    natural_pairs = training_script("natural_pairs")
    answerer = natural_answerer(settings, fake_embedder)
    rows = [
        {
            "project": "owner+docs",
            "question": "How many times is a failed download retried?",
            "answerable": True,
            "gold": "guide.md",
            "answers": ["retried three times"],
        },
        {
            "project": "owner+docs",
            "question": "How large may the cache grow?",
            "answerable": False,
            "near": "guide.md",
        },
    ]
    pairs, counts = natural_pairs.pairs_of(answerer, settings, "owner+docs", rows, 2)
    assert counts["answerable"] == 1 and counts["unanswerable"] == 1
    by_kind: dict[str, list[dict]] = {}
    for p in pairs:
        by_kind.setdefault(p["kind"], []).append(p)
    # The passage holding the answer is the positive; the pool's others are negatives.
    assert [p["label"] for p in by_kind["natural_positive"]] == [1]
    assert "retried three times" in by_kind["natural_positive"][0]["passage"]
    assert 1 <= len(by_kind["natural_negative"]) <= 2
    assert all("retried three times" not in p["passage"] for p in by_kind["natural_negative"])
    # An unanswerable question's first pool passages are all negatives, on its own group.
    unanswered = by_kind["natural_unanswered"]
    assert len(unanswered) == 2 and {p["label"] for p in unanswered} == {0}
    assert len({p["group"] for p in unanswered}) == 1
    assert unanswered[0]["group"] != by_kind["natural_positive"][0]["group"]
    assert {p["split"] for p in pairs} == {"train"}


def test_natural_questions_on_development_or_held_out_projects_are_refused():
    natural_pairs = training_script("natural_pairs")
    ok = {"project": "pallets+click", "question": "Why?", "answerable": False}
    assert natural_pairs.check([ok]) == []
    problems = natural_pairs.check(
        [
            {**ok, "project": "tox-dev+tox"},  # a development set's project
            {**ok, "project": "pypa+pip"},  # a reported set's
            {**ok, "project": "click"},  # not an owner+name folder
            {**ok, "answerable": True},  # no gold, no answers
        ]
    )
    assert len(problems) == 4 and all(p.startswith(f"row {n}:") for n, p in enumerate(problems, 1))


def test_natural_rows_repeat_apart_from_the_mined_ones():
    train_verifier = training_script("train_verifier")
    rows = [
        {"kind": "positive", "project": "a+b"},
        {"kind": "natural_positive", "project": "c+d"},
        {"kind": "hard_negative", "project": "squad"},
    ]
    [(docs, times)] = train_verifier.repeats(rows, 2, 0)
    assert times == 2 and [r["kind"] for r in docs] == ["positive", "natural_positive"]
    (docs, d_times), (natural, n_times) = train_verifier.repeats(rows, 2, 4)
    assert [r["kind"] for r in docs] == ["positive"] and d_times == 2
    assert [r["kind"] for r in natural] == ["natural_positive"] and n_times == 4


def test_the_shipped_natural_questions_keep_off_every_development_and_held_out_project():
    natural_pairs = training_script("natural_pairs")
    rows = [json.loads(line) for line in natural_pairs.QUESTIONS.read_text().splitlines()]
    assert len(rows) >= 300 and natural_pairs.check(rows) == []
    unanswerable = [r for r in rows if not r["answerable"]]
    assert unanswerable and all(r["present_terms"] and r["why_unanswered"] for r in unanswerable)


def test_sentence_pairs_mark_the_answer_and_refuse_the_question_restated(settings, fake_embedder):
    natural_pairs = training_script("natural_pairs")
    text = (
        "# Retries\n\nDownloads can fail on a slow network. "
        "A failed download is retried by the tool when the network fails. "
        "It gives up after three attempts. The log names each attempt.\n"
    )
    docs = passages_as_documents([{"id": "guide.md", "title": "guide", "text": text}])
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    passage = next(
        p for p in range(len(index.passages)) if "three attempts" in index.passage_text(p)
    )
    question = "When does the tool stop retrying a failed download?"
    pairs = natural_pairs.sentence_pairs(index, passage, question, ["after three attempts"], 1)
    assert [(label, kind) for _, label, kind in pairs] == [
        (1, "natural_sentence_positive"),
        (0, "natural_sentence_negative"),
    ]
    assert pairs[0][0] == "It gives up after three attempts."
    # The unmarked sentence kept is the one sharing the question's words, not the last one.
    assert pairs[1][0].startswith("A failed download is retried")
    # No single sentence holds the answer: no pairs.
    assert natural_pairs.sentence_pairs(index, passage, question, ["attempts. The log"], 1) == []


def test_an_answer_beyond_the_pool_is_found_in_its_gold_document_named_either_way(
    settings, fake_embedder
):
    # eval/docs_dev_natural names gold as a list, the training questions as a string: both
    # must find the gold document's passage holding the answer when the pool does not.
    natural_pairs = training_script("natural_pairs")
    answerer = natural_answerer(settings, fake_embedder)
    narrow = dataclasses.replace(
        settings, answer=dataclasses.replace(settings.answer, verifier_pool=1)
    )
    for gold in ("guide.md", ["guide.md"]):
        row = {
            "project": "owner+docs",
            "question": "Which file named tool.toml does the tool read its settings from?",
            "answerable": True,
            "gold": gold,
            "answers": ["retried three times"],  # not in the one passage the pool holds
        }
        pairs, counts = natural_pairs.pairs_of(answerer, narrow, "owner+docs", [row], 2)
        assert counts["answer beyond the pool"] == 1 and counts["answerable"] == 1, gold
        positives = [p for p in pairs if p["kind"] == "natural_positive"]
        assert len(positives) == 1 and "retried three times" in positives[0]["passage"]


def test_distillation_targets_are_the_teachers_mean_on_train_rows_only():
    distill = training_script("distill_targets")
    rows = [
        {"question": "q", "passage": "a", "label": 1, "split": "train"},
        {"question": "q", "passage": "b", "label": 0, "split": "heldout"},
        {"question": "q", "passage": "c", "label": 0, "split": "train"},
    ]
    out = distill.with_targets(rows, [[2.0, -1.0], [0.0, -3.0]])
    assert out[0]["teachers"] == [2.0, 0.0] and out[0]["target"] == round(1 / (1 + math.exp(-1)), 6)
    assert out[1] == rows[1]  # held-out rows keep their labels alone: figures stay comparable
    assert out[2]["teachers"] == [-1.0, -3.0] and out[2]["target"] < 0.5
    with pytest.raises(ValueError):
        distill.with_targets(rows, [[2.0], [0.0]])  # a teacher short of a row
    train_verifier = training_script("train_verifier")
    assert train_verifier.target(out[0], soft=True) == out[0]["target"]
    assert train_verifier.target(out[0], soft=False) == 1.0
    assert train_verifier.target(rows[1], soft=True) == 0.0  # no target: its label


def test_more_held_out_articles_keep_the_first_ones_chosen():
    squad_pairs = training_script("squad_pairs")
    titles = [f"Article {i}" for i in range(10)] * 3  # one title per question, repeated
    two = squad_pairs.heldout_articles(titles)
    five = squad_pairs.heldout_articles(list(reversed(titles)), 5)
    assert len(two) == squad_pairs.HELDOUT_ARTICLES == 2 and len(five) == 5
    assert two < five  # the bar's two articles stay held out: earlier figures stay comparable
