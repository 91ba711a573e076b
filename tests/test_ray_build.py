"""Building on Ray (bot/search/ray_build.py): the same index a local build writes, on a local
Ray instance of two CPUs. Skipped, saying so, where the [ray] extra is not installed."""

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.app import answer_from, rebuild
from bot.cli import main
from bot.config import Settings
from bot.errors import BotError, ConfigError
from bot.search import ray_build
from bot.search.ray_build import Shard, build_on_ray, gather
from bot.search.rows import PassageTable, SentenceTable
from bot.search.store import Index, IndexParams

from .conftest import DOCS, FakeEmbedder, write_corpus
from .test_cli import write_config

ROOT = Path(__file__).resolve().parent.parent
NO_RAY = "the [ray] extra is not installed: pip install -e '.[ray]'"
ON_CLUSTER = "QUOTEBOT_TEST_ON_RAY"  # set in the Ray workers only

MORE_DOCS = {
    **DOCS,
    "tea.txt": "Tea\n\nGreen tea is made from the leaves of Camellia sinensis. It is steamed.",
    "rivers/nile.md": "# The Nile\n\nThe Nile flows north through eleven countries. "
    "It ends in a delta on the Mediterranean Sea.",
    "rivers/amazon.txt": "The Amazon carries more water than any other river. "
    "Its basin covers seven million square kilometres.",
    "empty.txt": "",  # unreadable: skipped with its reason, as a local build does
}
QUESTIONS = ["Who walked on the Moon first?", "Where is Mount Etna?", "How long is the Nile?"]


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance of two CPUs for the module (starting one takes seconds)."""
    ray = pytest.importorskip("ray", reason=NO_RAY)  # installed but broken: an error

    # The workers import the package and the tests' fake embedder from this checkout.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=2,
        logging_level="ERROR",
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, ON_CLUSTER: "1"}},
    )
    yield ray
    ray.shutdown()


def _twin(settings: Settings, name: str) -> Settings:
    return dataclasses.replace(settings, index_dir=settings.index_dir.parent / name)


def test_a_ray_build_writes_the_index_a_local_build_writes(
    ray_local, settings, tmp_path, monkeypatch
):
    write_corpus(settings.seeds_dir, MORE_DOCS)
    # Two documents a batch: several actors' shards, arriving in any order, gathered.
    monkeypatch.setattr(ray_build, "CPU_BATCH", 2)
    local, _ = rebuild(_twin(settings, "local"), FakeEmbedder(), full=True, progress=False)
    _, report = build_on_ray(_twin(settings, "ray"), FakeEmbedder, progress=False)

    assert report.embedded_documents == [d.source for d in local.documents]
    assert report.embedded_passages == len(local) and len(local) > 10
    assert report.embedded_sentences == len(local.sentences)
    a, b = (Index.load(_twin(settings, name).index_dir) for name in ("local", "ray"))
    assert [d.to_json() for d in b.documents] == [d.to_json() for d in a.documents]
    assert b.skipped == a.skipped == {"empty.txt": b.skipped["empty.txt"]}
    np.testing.assert_array_equal(b.passages.rows, a.passages.rows)
    np.testing.assert_array_equal(b.sentences.rows, a.sentences.rows)
    np.testing.assert_allclose(b.passage_vectors, a.passage_vectors, atol=1e-3)
    np.testing.assert_allclose(b.sentence_vectors, a.sentence_vectors, atol=1e-3)
    for part in ("bits", "scales", "ranges", "rotation"):
        np.testing.assert_array_equal(getattr(b.tokens, part), getattr(a.tokens, part))
    assert _manifest(b) == _manifest(a)
    bm25 = sorted(p.relative_to(a.folder) for p in (a.folder / "bm25").rglob("*") if p.is_file())
    assert bm25 == sorted(
        p.relative_to(b.folder) for p in b.folder.glob("bm25/**/*") if p.is_file()
    )
    for name in bm25:
        assert (b.folder / name).read_bytes() == (a.folder / name).read_bytes(), name
    answers = [answer_from(i, FakeEmbedder(), settings).answerer for i in (a, b)]
    for q in QUESTIONS:
        assert answers[1].ask(q).to_json() == answers[0].ask(q).to_json()


def _manifest(index: Index) -> dict:
    manifest = json.loads((index.folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["created"]
    return manifest


def test_index_ray_on_the_command_line(ray_local, tmp_path, settings, use_fake, capfd):
    cfg = write_config(tmp_path)
    assert main(["index", "--config", cfg, "--ray"]) == 0
    out, err = capfd.readouterr()
    # One line, as a local build prints it: Ray's notes and plans stay out of the terminal.
    assert out == (
        "Indexed 3 documents: embedded 3 (11 passages, 13 sentences), reused 0, removed 0.\n"
    )
    assert "INFO" not in err and "Dataset" not in err
    assert main(["ask", "Where is Mount Etna?", "--json", "--config", cfg]) == 0
    assert json.loads(capfd.readouterr().out)["results"][0]["source"] == "nested/volcano.txt"


def test_a_failure_on_the_cluster_is_one_line(ray_local, settings):
    with pytest.raises(BotError, match=r"The build on Ray failed: .*no model on this node"):
        build_on_ray(settings, _MissingOnTheCluster, progress=False)
    assert not settings.index_dir.exists() or not any(settings.index_dir.glob("v-*"))


class _MissingOnTheCluster(FakeEmbedder):
    """Loads here, not on the cluster (a model missing from the other machines)."""

    def __init__(self):
        if os.environ.get(ON_CLUSTER):
            raise RuntimeError("no model on this node")
        super().__init__()


def test_gpus_get_one_embedder_each_and_cpus_a_pool():
    pytest.importorskip("ray", reason=NO_RAY)
    gpu = ray_build.embedder_pool({"CPU": 64, "GPU": 8})
    assert gpu["num_gpus"] == 1 and gpu["compute"].max_size == gpu["compute"].min_size == 8
    cpu = ray_build.embedder_pool({"CPU": 16})
    assert "num_gpus" not in cpu and cpu["num_cpus"] == 1
    assert (cpu["compute"].min_size, cpu["compute"].max_size) == (1, 16)


def test_without_ray_the_command_says_how_to_install_it(
    tmp_path, settings, use_fake, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert main(["index", "--config", write_config(tmp_path), "--ray"]) == 1
    assert "pip install -e '.[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "embeddings").exists()


def test_shards_of_another_model_are_refused():
    params = IndexParams("model-a", 4, 40, 20, 1, True)
    other = Shard(
        dataclasses.replace(params, model="model-b"),
        [],
        PassageTable(),
        SentenceTable(),
        np.zeros((0, 4), np.float32),
        np.zeros((0, 4), np.float32),
        None,
    )
    with pytest.raises(ConfigError, match=r"model-b.*same quotebot and model on every node"):
        gather([other], params)
