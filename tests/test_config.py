import tomllib
from pathlib import Path

import pytest

from bot.config import load_settings, settings_from_dict
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_config_documents_exactly_the_defaults():
    data = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    assert settings_from_dict(data, ROOT) == settings_from_dict({}, ROOT)


def test_no_config_file_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.seeds_dir == tmp_path / "seeds"
    assert settings.retrieval.k == 3


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    cfg = tmp_path / "conf" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text('seeds_dir = "../docs"\n', encoding="utf-8")
    assert load_settings(cfg).seeds_dir == tmp_path / "docs"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[retrieval]\nk = 'three'", "retrieval.k must be a whole number"),
        ("[retrieval]\nbackend = 'magic'", "retrieval.backend must be one of"),
        ("[answer]\nmin_confidence = true", "answer.min_confidence must be a number"),
        ("[chunking]\nembed_titles = 1", "chunking.embed_titles must be true or false"),
        ("[discord]\nguild_ids = ['abc']", "discord.guild_ids must be a list of numeric ids"),
        (
            "[retrieval]\ndense_weight = 0\nsentence_weight = 0\n"
            "lexical_weight = 0\nphrase_weight = 0",
            "cannot all be 0",
        ),
        ("retrieval = 3", "[retrieval] must be a table"),
        ("seeds_dir = [", "Cannot parse"),
    ],
)
def test_bad_values_fail_with_the_key_named(tmp_path, toml, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings(cfg)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[answer]\nmin_confidence = -5", "answer.min_confidence must be at least 0"),
        ("[answer]\nmin_confidence = 4", "answer.min_confidence must be at most 3"),
        (
            "[answer]\nmin_confidence_without_tokens = -1",
            "answer.min_confidence_without_tokens must be at least 0",
        ),
        ("[chunking]\ntarget_tokens = 100000", "chunking.target_tokens must be at most 8,192"),
        ("[retrieval]\nk = 1000", "retrieval.k must be at most 100"),
    ],
)
def test_out_of_range_values_fail_with_the_key_named(tmp_path, toml, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg)


def test_target_tokens_above_the_model_window_is_refused_naming_the_key(
    tmp_path, settings, fake_embedder
):
    from dataclasses import replace

    from bot.app import rebuild

    wide = replace(settings, chunking=replace(settings.chunking, target_tokens=41))
    assert fake_embedder.max_tokens == 40
    with pytest.raises(ConfigError, match=r"chunking\.target_tokens .*window of 40"):
        rebuild(wide, fake_embedder, progress=False)
    assert not (settings.index_dir / "CURRENT").exists()
