"""Per-model calibration (bot.search.calibration): the shipped file is the source of the
defaults, applied for its model only, and another model is warned about once."""

import json
import logging
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings, load_settings, settings_from_dict
from bot.errors import ConfigError
from bot.search.calibration import (
    CALIBRATED,
    CALIBRATION_DIR,
    calibrated,
    calibrations,
    load_calibrated,
    model_fingerprint,
)
from bot.search.embedder import BUNDLED_MODEL, resolve_model

BUNDLED_FILE = CALIBRATION_DIR / f"{BUNDLED_MODEL}.toml"


def fake_model(folder: Path, hidden: int = 8) -> Path:
    """A model folder with what the fingerprint reads (no weights: nothing loads it)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"hidden_size": hidden, "model_type": "bert", "transformers_version": "4.0"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\nthe\nof\n", encoding="utf-8")
    return folder


def write_calibration(folder: Path, name: str, fingerprint: str | None, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.toml"
    path.write_text(
        f'[model]\nname = "{name}"\nfingerprint = "{fingerprint}"\n\n{body}', encoding="utf-8"
    )
    return folder


def test_the_bundled_calibration_file_holds_the_defaults_for_every_calibrated_key():
    data = tomllib.loads(BUNDLED_FILE.read_text(encoding="utf-8"))
    model = data.pop("model")
    assert model["name"] == BUNDLED_MODEL
    assert model["fingerprint"] == model_fingerprint(Path(resolve_model("")[1]))
    assert {s: tuple(t) for s, t in data.items()} == CALIBRATED  # every key, in one order
    defaults = Settings()
    for section, table in data.items():
        for key, value in table.items():
            assert getattr(getattr(defaults, section), key) == value, f"{section}.{key}"


def test_the_bundled_model_is_calibrated_and_nothing_changes(tmp_path):
    settings = settings_from_dict({}, tmp_path)
    for model in ("", BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"):
        configured = settings_from_dict({"model": model}, tmp_path)
        result, warning = calibrated(configured)
        assert warning is None
        assert result == configured
        assert result.answer == settings.answer and result.retrieval == settings.retrieval


def test_the_fingerprint_reads_the_vocabulary_from_either_file(tmp_path):
    bundled = Path(resolve_model("")[1])
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_bytes((bundled / "config.json").read_bytes())
    (copy / "tokenizer.json").write_bytes((bundled / "tokenizer.json").read_bytes())
    assert model_fingerprint(copy) == model_fingerprint(bundled)  # no vocab.txt in copy
    assert model_fingerprint(fake_model(tmp_path / "a")) != model_fingerprint(bundled)
    assert model_fingerprint(tmp_path / "empty") is None


def test_a_calibration_applies_to_its_model_but_the_config_file_wins(tmp_path):
    model = fake_model(tmp_path / "model")
    folder = write_calibration(
        tmp_path / "cal",
        str(model),
        model_fingerprint(model),
        "[retrieval]\ndense_weight = 0.4\nrerank_depth = 7\n[answer]\nmin_confidence = 0.9\n"
        "[discord]\nhelp_min_confidence = 1.1\n",
    )
    settings = settings_from_dict(
        {"model": str(model), "retrieval": {"dense_weight": 0.3}}, tmp_path
    )
    result, warning = calibrated(settings, folder=folder)
    assert warning is None
    assert result.retrieval.dense_weight == 0.3  # set in the config file
    assert result.retrieval.rerank_depth == 7
    assert result.answer.min_confidence == 0.9
    assert result.discord.help_min_confidence == 1.1
    assert result.answer.token_confidence_weight == Settings().answer.token_confidence_weight


def test_another_model_without_calibration_gets_one_warning_saying_how_to_calibrate(tmp_path):
    model = fake_model(tmp_path / "my-model")
    settings = settings_from_dict({"model": str(model)}, tmp_path)
    result, warning = calibrated(settings)
    assert result == settings  # the bundled model's numbers, as before
    assert warning is not None
    assert str(model) in warning and "no calibration file" in warning
    assert f"tuned for {BUNDLED_MODEL}" in warning and "declines may be off" in warning
    assert "python -m bot eval --split tune" in warning and "eval/decline_check.py" in warning


def test_scripts_load_the_calibrated_settings_of_their_config_file(tmp_path, caplog):
    model = fake_model(tmp_path / "model")
    folder = write_calibration(
        tmp_path / "cal", str(model), model_fingerprint(model), "[answer]\nmin_verifier = 0.5\n"
    )
    config = tmp_path / "config.toml"
    config.write_text(f'model = "{model}"\n', encoding="utf-8")
    assert load_settings(config).answer.min_verifier == Settings().answer.min_verifier
    assert load_calibrated(config, folder=folder).answer.min_verifier == 0.5
    with caplog.at_level(logging.WARNING, logger="bot.search.calibration"):
        assert load_calibrated(config).answer.min_verifier == Settings().answer.min_verifier
    assert "no calibration file" in caplog.text  # the bundled model's bars, said once


def test_no_eval_or_training_script_reads_the_settings_without_their_calibration():
    """bot eval applies the calibration file; a script reading load_settings() alone would
    measure other bars than it (the eleventh session read a candidate bar that way)."""
    root = Path(__file__).resolve().parent.parent
    scripts = sorted([*root.glob("eval/*.py"), *root.glob("training/*.py")])
    assert len(scripts) > 10
    readers = [p.name for p in scripts if "load_settings(" in p.read_text(encoding="utf-8")]
    assert readers == []


def test_a_calibration_for_another_copy_of_the_model_is_not_used(tmp_path):
    model = fake_model(tmp_path / "model")
    folder = write_calibration(
        tmp_path / "cal", str(model), "0123456789abcdef", "[answer]\nmin_confidence = 0.9\n"
    )
    settings = settings_from_dict({"model": str(model)}, tmp_path)
    result, warning = calibrated(settings, folder=folder)
    assert result.answer.min_confidence == Settings().answer.min_confidence
    assert warning is not None and "a different copy of it" in warning


def test_a_config_that_sets_every_calibrated_number_needs_no_warning(tmp_path):
    model = fake_model(tmp_path / "model")
    defaults = Settings()
    tables = {
        section: {key: getattr(getattr(defaults, section), key) for key in keys}
        for section, keys in CALIBRATED.items()
    }
    settings = settings_from_dict({"model": str(model), **tables}, tmp_path)
    assert calibrated(settings) == (settings, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[answer]\nmax_question_chars = 5\n", r"\[answer\] may only set calibrated keys"),
        ("[answer]\nmin_confidence = -1\n", "answer.min_confidence must be at least 0"),
        ("[answer]\nmin_confidence = 2.5\ntoken_confidence_weight = 1.0\n", "at most 2"),
    ],
)
def test_a_bad_calibration_file_is_refused_naming_it(tmp_path, body, message):
    model = fake_model(tmp_path / "model")
    folder = write_calibration(tmp_path / "cal", str(model), model_fingerprint(model), body)
    settings = settings_from_dict({"model": str(model)}, tmp_path)
    with pytest.raises(ConfigError, match=message) as caught:
        calibrated(settings, folder=folder)
    assert "model.toml" in str(caught.value)


def test_every_shipped_calibration_file_reads():
    assert [c.name for c in calibrations()] == [BUNDLED_MODEL]


def write_config(tmp_path, model: Path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        f'seeds_dir = "seeds"\nindex_dir = "embeddings"\ncache_dir = "cache"\n'
        f"model = {json.dumps(str(model))}\n\n[chunking]\ntarget_tokens = 20\n",
        encoding="utf-8",
    )
    return str(path)


def test_the_command_line_warns_once_at_start_for_an_uncalibrated_model(
    tmp_path, settings, use_fake, caplog
):
    cfg = write_config(tmp_path, fake_model(tmp_path / "my-model"))
    with caplog.at_level(logging.WARNING):
        assert main(["index", "--config", cfg]) == 0
    warnings = [r.getMessage() for r in caplog.records if "no calibration" in r.getMessage()]
    assert len(warnings) == 1 and "my-model" in warnings[0]


def test_eval_prints_the_calibration_hint_with_its_figures(tmp_path, use_fake, capsys, caplog):
    cfg = write_config(tmp_path, fake_model(tmp_path / "my-model"))
    passages = tmp_path / "p.jsonl"
    passages.write_text(
        json.dumps({"id": "p1", "title": "Etna", "text": "Mount Etna is a volcano in Sicily."}),
        encoding="utf-8",
    )
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "Where is Mount Etna?", "gold": ["p1"]}), encoding="utf-8"
    )
    args = ["eval", "--passages", str(passages), "--questions", str(questions), "--config", cfg]
    with caplog.at_level(logging.WARNING):
        assert main(args) == 0
    out = capsys.readouterr().out
    assert "note: model" in out and "python -m bot eval --split tune" in out
    assert not any("no calibration" in r.getMessage() for r in caplog.records)  # said once
    cfg_bundled = tmp_path / "bundled.toml"
    cfg_bundled.write_text('cache_dir = "cache"\n', encoding="utf-8")
    assert main([*args[:-1], str(cfg_bundled)]) == 0
    assert "note:" not in capsys.readouterr().out
