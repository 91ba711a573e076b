"""The verifier in answering: it chooses among the pool, its bar declines, its score shows."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pytest

from bot.answer.compose import Answerer
from bot.answer.verify import MODEL_DIR, Verifier, load_verifier
from bot.config import AnswerSettings, ChunkingSettings, RetrievalSettings
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index

QUESTION = "Which volcano is in Sicily?"


class KeywordVerifier:
    """Says a passage answers when it holds the keyword: a stand-in with a known opinion."""

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        self.read: list[int] = []

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        self.read.append(len(passages))
        return np.array([0.9 if self.keyword in p else 0.05 for p in passages], np.float32)


@pytest.fixture
def index(settings, fake_embedder):
    docs, _ = load_corpus(settings.seeds_dir)
    built, _ = build_index(docs, fake_embedder, settings.chunking)
    return built


def answerer(index, fake_embedder, reader, **answer) -> Answerer:
    settings = AnswerSettings(**answer)
    return Answerer(index, fake_embedder, RetrievalSettings(k=3), settings, verifier=reader)


def test_the_verifier_chooses_the_passage_it_reads_as_the_answer(index, fake_embedder):
    plain = answerer(index, fake_embedder, None).ask(QUESTION)
    assert plain.results[0].source == "nested/volcano.txt"
    # A verifier that believes the bees passage answers, weighted enough to outrank fusion.
    verifier = KeywordVerifier("colony")
    chosen = answerer(
        index, fake_embedder, verifier, verifier_weight=10.0, verifier_sentence_weight=0.0
    ).ask(QUESTION)
    assert chosen.results[0].source == "bees.md"
    assert chosen.results[0].verifier == pytest.approx(0.9)
    assert verifier.read == [min(10, len(index))]  # one call over the pool


def test_weight_zero_keeps_the_retrieval_order_and_shows_the_score(index, fake_embedder):
    plain = answerer(index, fake_embedder, None).ask(QUESTION)
    verified = answerer(index, fake_embedder, KeywordVerifier("Etna"), verifier_weight=0.0).ask(
        QUESTION
    )
    assert [r.passage for r in verified.results] == [r.passage for r in plain.results]
    assert verified.results[0].verifier == pytest.approx(0.9)
    assert verified.to_json()["results"][0]["verifier"] == pytest.approx(0.9)
    assert plain.results[0].verifier is None


def test_weight_zero_reads_only_the_passages_it_may_quote(index, fake_embedder):
    # With weight 0 the verifier re-ranks nothing: it need not read the pool, only the
    # passage quoted and the further sources offered, each once, as the question needs them.
    verifier = KeywordVerifier("Etna")
    answer = answerer(index, fake_embedder, verifier, verifier_weight=0.0).ask(QUESTION)
    pool = min(10, len(index))
    assert set(verifier.read) == {1}  # one passage at a time
    assert len(answer.results) <= sum(verifier.read) < pool
    assert all(r.verifier is not None for r in answer.results)


def test_a_passage_the_verifier_rejects_is_declined(index, fake_embedder):
    accepting = answerer(index, fake_embedder, KeywordVerifier("Etna"), min_verifier=0.5)
    assert accepting.ask(QUESTION).answered
    rejecting = answerer(index, fake_embedder, KeywordVerifier("nowhere"), min_verifier=0.5)
    answer = rejecting.ask(QUESTION)
    assert not answer.answered
    assert answer.to_json()["results"] == []


def test_the_setting_turns_it_off(index, fake_embedder):
    verifier = KeywordVerifier("nowhere")
    off = answerer(index, fake_embedder, verifier, verifier=False, min_verifier=0.5)
    assert off.ask(QUESTION).answered and verifier.read == []


def test_a_missing_model_answers_without_it(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert load_verifier(tmp_path) is None
    assert "No verifier model" in caplog.text


@pytest.mark.slow
@pytest.mark.skipif(not (MODEL_DIR / "model.onnx").is_file(), reason="no shipped verifier")
def test_the_shipped_verifier_reads_the_answer_above_a_passage_on_the_topic():
    verifier = Verifier()
    question = "When did Neil Armstrong walk on the Moon?"
    answer = "Neil Armstrong walked on the Moon on July 20, 1969, during the Apollo 11 mission."
    topic = "The Moon is Earth's only natural satellite and the fifth largest in the Solar System."
    p = verifier.scores(question, [answer, topic])
    assert p.shape == (2,) and p.min() >= 0 and p.max() <= 1
    assert p[0] > 0.5 > p[1]


def test_the_verifier_can_choose_the_marked_sentence(settings, fake_embedder):
    docs, _ = load_corpus(settings.seeds_dir)
    whole, _ = build_index(docs, fake_embedder, ChunkingSettings(target_tokens=35))
    question = "Which volcano is in Sicily?"
    plain = answerer(whole, fake_embedder, None, max_quote_sentences=1).ask(question)
    assert "Mount Etna in Sicily" in plain.results[0].quote
    assert "Catania" in plain.results[0].passage  # one passage, two sentences
    # A verifier that reads the Catania sentence as the answer, weighted to outvote the rest.
    reader = KeywordVerifier("Catania")
    chosen = answerer(
        whole, fake_embedder, reader, max_quote_sentences=1, verifier_sentence_weight=10.0
    ).ask(question)
    assert chosen.results[0].passage == plain.results[0].passage
    assert "Catania" in chosen.results[0].quote and "Sicily" not in chosen.results[0].quote
    assert len(reader.read) == 2  # the pool, then the quoted passage's sentences


@pytest.mark.slow
@pytest.mark.skipif(not (MODEL_DIR / "model.onnx").is_file(), reason="no shipped verifier")
def test_a_passages_score_is_its_own_whatever_it_is_read_with():
    # int8 activations are scaled over the whole input: batched or padded with others, a
    # pair's logit moved (up to 2 apart). The same passage must score the same in any pool.
    verifier = Verifier()
    question = "How long is the warranty?"
    short = "The warranty lasts two years."
    pool = [
        short,
        "Returns are accepted within thirty days of delivery, with the receipt, for any "
        "product bought in our shops or online, except gift cards and opened software. " * 4,
        "Shipping is free on orders over fifty euros.",
    ]
    alone = verifier.logits(question, [short])[0]
    together = verifier.logits(question, pool)
    assert together[0] == alone
    assert verifier.logits(question, pool[::-1])[2] == alone


def constant_model(path, logit: float) -> None:
    """An ONNX model that reads input_ids and gives the same logit for any pair."""
    import onnx
    from onnx import TensorProto, helper

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"])
    out = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["batch", 1])
    nodes = [
        helper.make_node("Shape", ["input_ids"], ["shape"], start=0, end=1),  # [batch]
        helper.make_node(
            "Constant", [], ["one"], value=helper.make_tensor("one", TensorProto.INT64, [1], [1])
        ),
        helper.make_node("Concat", ["shape", "one"], ["size"], axis=0),  # [batch, 1]
        helper.make_node(
            "ConstantOfShape",
            ["size"],
            ["logit"],
            value=helper.make_tensor("v", TensorProto.FLOAT, [1], [logit]),
        ),
    ]
    graph = helper.make_graph(nodes, "constant", [ids], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def model_folder(folder, logits: Sequence[float], *, listed: bool = True):
    """A verifier folder with the shipped tokenizer and one constant model per logit."""
    import json
    import shutil

    folder.mkdir()
    shutil.copy(MODEL_DIR / "tokenizer.json", folder / "tokenizer.json")
    files = []
    for i, logit in enumerate(logits):
        name = "model.onnx" if i == 0 else f"member{i}.onnx"
        constant_model(folder / name, logit)
        files.append(name)
    config = {"max_length": 64, **({"models": files} if listed else {})}
    (folder / "verifier.json").write_text(json.dumps(config))
    return folder


def test_an_ensembles_logit_is_the_mean_of_its_members(tmp_path):
    pairs = ["Etna is in Sicily.", "Vesuvius is near Naples."]
    alone = Verifier(model_folder(tmp_path / "one", [2.0], listed=False))
    assert alone.logits(QUESTION, pairs).tolist() == [2.0, 2.0]
    both = Verifier(model_folder(tmp_path / "two", [2.0, -4.0]))
    assert len(both.sessions) == 2
    assert both.logits(QUESTION, pairs).tolist() == [-1.0, -1.0]
    p = both.scores(QUESTION, pairs)
    assert np.allclose(p, 1 / (1 + np.exp(1.0)))


@pytest.mark.parametrize("listed", ["[]", '"model.onnx"', "[1]"])
def test_a_folder_listing_no_model_files_is_unusable(tmp_path, caplog, listed):
    folder = model_folder(tmp_path / "bad", [2.0])
    (folder / "verifier.json").write_text(f'{{"models": {listed}}}')
    with pytest.raises(ValueError, match="must list model files"):
        Verifier(folder)
    assert load_verifier(folder) is None  # answering goes on without it, said in the log
    assert "unusable" in caplog.text
