"""The verifier's training sources (training/mine_docs.py): copyleft text stays out unless
asked for, so shipped weights carry no obligation of it."""

from pathlib import Path

from .conftest import training_script

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
