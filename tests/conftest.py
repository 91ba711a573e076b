"""Shared fixtures: a deterministic fake embedder, a tiny corpus, settings in tmp_path."""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from bot.config import Settings, settings_from_dict
from bot.search.embedder import normalise, unit_rows_f16

_WORD = re.compile(r"[a-z0-9]+")


class FakeEmbedder:
    """Bag of hashed words: texts sharing words get similar vectors; no model, no torch.

    count_tokens counts words, so window arithmetic in tests is easy to reason about.
    """

    def __init__(self, dim: int = 64, name: str = "fake-embedder", max_tokens: int = 40) -> None:
        self.name = name
        self.dim = dim
        self.max_tokens = max_tokens
        self.calls: list[int] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
            v[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        if not v.any():
            v[0] = 1.0
        return v

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        for t in texts:  # as the real tokenizer does, refuse text that is not valid Unicode
            t.encode("utf-8")
        self.calls.append(len(texts))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalise(np.stack([self._vec(t) for t in texts]))

    def embed_tokens(
        self, texts: Sequence[str], *, query: bool = False, progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each word's hashed vector stands for its word piece (TokenEmbedder)."""
        words = [_WORD.findall(t.lower()) or [""] for t in texts]
        tokens = [unit_rows_f16(np.stack([self._vec(w) for w in ws])) for ws in words]
        return self.embed(texts), tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


DOCS = {
    "apollo.txt": (
        "Apollo Program\n\n"
        "The Apollo program landed twelve astronauts on the Moon. "
        "Neil Armstrong was the first person to walk on the lunar surface in 1969. "
        "The Saturn V rocket launched every crewed Apollo mission to the Moon.\n\n"
        "Apollo 13 suffered an oxygen tank explosion. The crew returned safely to Earth."
    ),
    "bees.md": (
        "# Honey Bees\n\n"
        "Honey bees live in colonies ruled by a single queen. "
        "Worker bees collect nectar from flowers and turn it into honey. "
        "A colony can hold fifty thousand bees in summer."
    ),
    "nested/volcano.txt": (
        "Volcanoes\n\n"
        "Mount Etna in Sicily is one of the most active volcanoes in Europe. "
        "Lava from Etna has reached the city of Catania several times."
    ),
}


def write_corpus(seeds: Path, docs: dict[str, str] | None = None) -> Path:
    """Write docs (path -> text) under seeds."""
    for rel, text in (docs or DOCS).items():
        path = seeds / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return seeds


def training_script(name: str) -> ModuleType:
    """training/<name>.py loaded as a module (the folder is scripts, not a package); it stays
    in sys.modules under name, so the scripts' imports of one another find it."""
    path = Path(__file__).resolve().parent.parent / "training" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _discord_tasks_collected(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each Discord test, collect its garbage. A vote view left open schedules a timeout
    task on the test's event loop; when that loop is closed with the task pending (older
    pytest-asyncio does not cancel it), asyncio logs "Task was destroyed but it is pending!"
    whenever the task is collected, which may be in a later test that checks the log."""
    yield
    if request.module.__name__.rsplit(".", 1)[-1].startswith("test_discord"):
        gc.collect()


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    write_corpus(tmp_path / "seeds")
    return settings_from_dict(
        {"cache_dir": str(tmp_path / "cache"), "chunking": {"target_tokens": 20}}, tmp_path
    )


@pytest.fixture
def use_fake(monkeypatch: pytest.MonkeyPatch, fake_embedder: FakeEmbedder) -> FakeEmbedder:
    """Make every front end build the fake embedder instead of loading the model, and answer
    without the shipped verifier (a model reading the fake's passages; tests/test_verify.py
    tests it, with a stand-in and for real)."""
    monkeypatch.setattr("bot.app.make_embedder", lambda settings: fake_embedder)
    monkeypatch.setattr("bot.app.load_verifier", lambda *args, **kwargs: None)
    monkeypatch.setattr("bot.evaluation.run.load_verifier", lambda *args, **kwargs: None)
    return fake_embedder
