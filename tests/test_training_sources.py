"""The verifier's training sources (training/mine_docs.py): copyleft text stays out unless
asked for, so shipped weights carry no obligation of it; the held-out split is pinned."""

import hashlib
import json
from pathlib import Path

import pytest

from .conftest import training_script

ROOT = Path(__file__).resolve().parent.parent

SHA = "0" * 40


def write_sources(path: Path) -> Path:
    rows = [
        ("example/permissive", "MIT"),
        ("example/shared", "GPL-3.0-only"),
        ("example/either", "MIT OR Apache-2.0"),
        ("example/lesser", "LGPL-2.1-or-later"),
    ]
    text = "".join(
        f'[[source]]\nrepo = "{repo}"\ncommit = "{SHA}"\nlicence = "{licence}"\n'
        'include = ["/docs/*.md"]\n\n'
        for repo, licence in rows
    )
    path.write_text(text, encoding="utf-8")
    return path


def test_copyleft_sources_are_left_out_unless_asked_for(tmp_path: Path) -> None:
    module = training_script("mine_docs")
    sources = write_sources(tmp_path / "sources.toml")
    assert [s.repo for s in module.load_sources(sources)] == [
        "example/permissive",
        "example/either",
    ]
    assert len(module.load_sources(sources, copyleft=True)) == 4


PINNED = ["numba/numba", "Homebrew/brew", "curl/curl"]


def sorts_first(prefix: str) -> str:
    """A project name whose sha1 sorts before every pinned held-out project's."""
    lowest = min(hashlib.sha1(p.encode()).hexdigest() for p in PINNED)
    for i in range(100_000):
        name = f"{prefix}/docs{i}"
        if hashlib.sha1(name.encode()).hexdigest() < lowest:
            return name
    raise AssertionError("no name found")


def test_heldout_split_stays_pinned_when_a_new_project_sorts_first() -> None:
    """Projects added to sources.toml never displace the held-out split (chosen once in
    sha1(name) order, then pinned): new projects of each main format, with many rows and
    names sorting first, stay in train."""
    module = training_script("mine_docs")
    assert list(module.HELDOUT_PROJECTS) == PINNED
    newcomers = {sorts_first(f"new-{fmt}"): fmt for fmt in ("rst", "md", "txt", "html")}
    formats = {"numba/numba": "rst", "Homebrew/brew": "md", "curl/curl": "txt", **newcomers}
    rows = [
        {"project": project, "format": fmt, "group": f"{project}-{i}"}
        for project, fmt in sorted(formats.items())
        for i in range(100)
    ]
    assert module.choose_heldout(rows) == PINNED
    # A partial run (--only) holds out only the pinned projects it mined.
    assert module.choose_heldout([r for r in rows if r["project"] != "curl/curl"]) == PINNED[:2]
    assert module.choose_heldout([r for r in rows if r["project"] in newcomers]) == []


def test_tracked_stats_hold_out_the_pinned_projects() -> None:
    stats = json.loads((ROOT / "training" / "docs_pairs_stats.json").read_text("utf-8"))
    assert stats["heldout_projects"] == PINNED
    split = {p: v["split"] for p, v in stats["per_project"].items()}
    assert sorted(p for p, s in split.items() if s == "heldout") == sorted(PINNED)


def test_development_projects_are_never_mined_for_training(tmp_path: Path) -> None:
    """The documentation development set's projects (eval/docs_dev_natural/sources.toml) are
    refused in training sources and in natural questions; only the development set's own
    exporter reads them."""
    mine = training_script("mine_docs")
    natural = training_script("natural_pairs")
    dev = mine.load_sources(mine.DEVELOPMENT_SOURCES, copyleft=True, development=True)
    assert len(dev) >= 16
    repo = dev[0].repo
    assert repo.lower() in mine.development_repos()
    assert "development set" in (mine.forbidden(repo) or "")
    assert mine.forbidden(repo, development=True) is None
    training = tmp_path / "sources.toml"
    training.write_text(
        f'[[source]]\nrepo = "{repo}"\ncommit = "{SHA}"\nlicence = "MIT"\ninclude = ["/*.md"]\n',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit, match="development set"):
        mine.load_sources(training)
    row = {"project": repo.replace("/", "+"), "question": "How?", "answerable": False}
    assert any("development set" in p for p in natural.check([row]))
    # The training sources share no project with the development set.
    trained = {s.repo.lower() for s in mine.load_sources(ROOT / "training" / "sources.toml")}
    assert not trained & mine.development_repos()
