"""The benchmark's pure helpers (timings themselves are never asserted)."""

import numpy as np
import pytest

from bot.bench.run import run_bench
from bot.bench.stats import recall_at, summary
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


def test_a_step_that_reads_squad_dev_asks_for_the_data_flag(settings):
    with pytest.raises(BotError, match=r"pass --data FOLDER"):
        run_bench(settings, only=["index_build"])


def test_a_data_folder_without_the_squad_dev_files_is_named(settings, tmp_path):
    (tmp_path / "questions.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(BotError, match=r"--data .* has no passages\.jsonl;"):
        run_bench(settings, data=tmp_path, only=["index_build"])
    with pytest.raises(BotError, match=r"--data .*nowhere is not a folder"):
        run_bench(settings, data=tmp_path / "nowhere", only=["index_build"])


def test_the_squad_dev_readers_spread_questions_and_keep_mid_length_sentences(tmp_path):
    import json

    from bot.bench.data import passage_rows, questions, sentence_pool

    (tmp_path / "questions.jsonl").write_text(
        "".join(json.dumps({"question": f"q{i}"}) + "\n" for i in range(30)), encoding="utf-8"
    )
    long = "A sentence that is long enough to be kept in the pool."
    rows = [{"id": "p1", "title": "T", "text": f"Short. {long} {long}"}, {"id": "p2", "text": long}]
    (tmp_path / "passages.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    assert questions(tmp_path, 3) == ["q0", "q7", "q14"]
    assert [r["id"] for r in passage_rows(tmp_path, 1)] == ["p1"]
    assert len(passage_rows(tmp_path)) == 2
    assert sentence_pool(tmp_path, 10) == [long, long, long]


def squad_folder(tmp_path):
    """A SQuAD-dev-shaped folder: 40 passages of three pool-length sentences, 30 questions."""
    import json

    folder = tmp_path / "squad"
    folder.mkdir()
    sentence = "Sentence number {} of the bench is long enough to join the sentence pool."
    rows = [
        {
            "id": f"p{i}",
            "title": "T",
            "text": " ".join(sentence.format(3 * i + j) for j in range(3)),
        }
        for i in range(40)
    ]
    (folder / "passages.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    (folder / "questions.jsonl").write_text(
        "".join(
            json.dumps({"question": f"Which is sentence number {i}?"}) + "\n" for i in range(30)
        ),
        encoding="utf-8",
    )
    return folder


def test_query_latency_answers_from_a_cached_synthetic_index(settings, tmp_path, fake_embedder):
    from bot.bench.data import questions
    from bot.bench.latency import query_latency
    from bot.bench.synthetic import synthetic_index
    from bot.search.store import Index

    data = squad_folder(tmp_path)
    qs = questions(data, 4)
    out = query_latency(settings, fake_embedder, data, [50], qs)
    assert out["50/exact"]["ms"]["n"] == 4
    assert out["50/exact"]["sentence_vectors"] and out["50/exact"]["token_vectors"]
    folder = synthetic_index(settings, fake_embedder, data, 50, sentence_vectors=True, ann=False)
    index = Index.load(folder)
    assert len(index) == 50 and len(index.sentences) == 100 and len(index.tokens) > 0
    # Each passage is two pool sentences, joined by a space, in its document's text.
    first = index.passage_text(0)
    assert first == " ".join(index.sentence_text(j) for j in index.sentence_ids(0))
    assert not list(folder.parent.glob(".*-tokens.npy"))  # the scratch file is gone
    calls = len(fake_embedder.calls)
    synthetic_index(settings, fake_embedder, data, 50, sentence_vectors=True, ann=False)
    assert len(fake_embedder.calls) == calls  # reused from the cache


def test_a_synthetic_index_without_sentence_vectors_has_no_word_pieces(settings, tmp_path):
    from bot.bench.synthetic import synthetic_index
    from bot.search.store import Index

    from .conftest import FakeEmbedder

    data = squad_folder(tmp_path)
    folder = synthetic_index(settings, FakeEmbedder(), data, 20, sentence_vectors=False, ann=False)
    index = Index.load(folder)
    assert len(index) == 20 and index.sentence_vectors.shape[0] == 0
    assert len(index.tokens) == 0 and not index.params.token_vectors


def test_the_whole_process_bench_writes_files_a_config_and_counts_stored_bytes(settings, tmp_path):
    from bot.bench.process import stored_bytes, write_seeds
    from bot.config import load_settings

    texts = write_seeds(squad_folder(tmp_path), tmp_path / "run", 3, settings)
    assert len(texts) == 3 and texts[0].startswith("T\n\n")
    assert sorted(p.name for p in (tmp_path / "run" / "seeds").iterdir()) == [
        "p0.txt",
        "p1.txt",
        "p2.txt",
    ]
    config = load_settings(tmp_path / "run" / "config.toml")
    assert config.seeds_dir == tmp_path / "run" / "seeds"
    assert config.index_dir == tmp_path / "run" / "embeddings"
    assert config.cache_dir == settings.cache_dir
    index = tmp_path / "index"
    (index / "v-1").mkdir(parents=True)
    (index / "shared").mkdir()
    (index / "CURRENT").write_text("v-1\n")
    (index / "v-1" / "a.npy").write_bytes(b"x" * 10)
    (index / "v-1" / "query_encoder.onnx").write_bytes(b"x" * 1000)  # not counted
    (index / "shared" / "rotation.npy").write_bytes(b"x" * 100)
    assert stored_bytes(index) == (10, 114)  # CURRENT's 4 bytes too
