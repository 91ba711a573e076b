"""Per-model calibration: the numbers tuned for one embedding model, shipped with the project.

The fusion weights, the re-ranking depth and the decline bars are on the model's own scale
(cosines, MaxSim), so they hold for the model they were tuned for. bot/calibration/ holds one
TOML file per model: a [model] table with the model's name and fingerprint (model_fingerprint)
and the tuned values by section, among CALIBRATED. The dataclass defaults in bot.config are
the bundled all-MiniLM-L6-v2's numbers (a test checks they equal its file). calibrated() applies
the file of the configured model to every key the config file does not set itself, or says,
for a model without one, that the bars were tuned for another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings, overlay
from bot.errors import ConfigError
from bot.search.embedder import BUNDLED_MODEL, resolve_model

log = logging.getLogger(__name__)

CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "calibration"

# The keys a calibration file may set, by section: everything tuned on the model's scale.
CALIBRATED: dict[str, tuple[str, ...]] = {
    "retrieval": (
        "dense_weight",
        "sentence_weight",
        "lexical_weight",
        "phrase_weight",
        "token_weight",
        "rerank_depth",
    ),
    "answer": (
        "min_confidence",
        "token_confidence_weight",
        "min_confidence_without_tokens",
        "unknown_name_penalty",
        "unknown_term_penalty",
        "answer_type_penalty",
        "min_further_confidence",
        "min_further_score",
        "verifier_weight",
        "min_verifier",
        "verifier_sentence_weight",
    ),
    "discord": ("help_min_confidence",),
}

# config.json fields that say who saved the model, not what it computes.
_SAVER_FIELDS = ("_name_or_path", "transformers_version")

HOW_TO_CALIBRATE = (
    "to calibrate, run `python -m bot eval --split tune` on questions about your documents "
    "and the bar scripts eval/decline_check.py, eval/further_bar.py and eval/help_bar.py, "
    "then set the numbers they give in config.toml (see README, Configuration)"
)


@dataclass(frozen=True)
class Calibration:
    """One calibration file: the model it is for and its values by section."""

    path: Path
    name: str
    fingerprint: str
    values: dict[str, dict[str, Any]]


def model_fingerprint(location: Path) -> str | None:
    """A short sha256 of what fixes a model's vector space and is cheap to read: its
    config.json (architecture and sizes, less the fields that name who saved it) and its
    vocabulary in id order (vocab.txt, else tokenizer.json's). No weights are read (90 MB for
    the bundled model), so a fine-tune of a model shares its fingerprint: the name tells them
    apart. None when the folder has no config.json."""
    config = location / "config.json"
    if not config.is_file():
        return None
    fields = json.loads(config.read_text(encoding="utf-8"))
    for name in _SAVER_FIELDS:
        fields.pop(name, None)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0" + "\n".join(_vocabulary(location)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]


def _vocabulary(location: Path) -> list[str]:
    """The model's tokens in id order, from vocab.txt or tokenizer.json; [] if neither."""
    vocab, tokenizer = location / "vocab.txt", location / "tokenizer.json"
    if vocab.is_file():
        return vocab.read_text(encoding="utf-8").rstrip("\n").split("\n")
    if not tokenizer.is_file():
        return []
    table = json.loads(tokenizer.read_text(encoding="utf-8")).get("model", {}).get("vocab", {})
    if isinstance(table, dict):  # WordPiece, BPE: piece -> id
        return sorted(table, key=table.__getitem__)
    return [str(entry[0]) for entry in table]  # Unigram: [piece, score] in id order


def read_calibration(path: Path) -> Calibration:
    """A calibration file, checked: [model] name and fingerprint, and only CALIBRATED keys."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the calibration file {path}: {exc}") from exc
    model = data.pop("model", None)
    if (
        not isinstance(model, dict)
        or not isinstance(model.get("name"), str)
        or not isinstance(model.get("fingerprint"), str)
    ):
        raise ConfigError(f"{path}: needs a [model] table with name and fingerprint")
    for section, table in data.items():
        allowed = CALIBRATED.get(section, ())
        if not isinstance(table, dict) or not set(table) <= set(allowed):
            raise ConfigError(
                f"{path}: [{section}] may only set calibrated keys "
                f"({', '.join(allowed) or 'none in this section'})"
            )
    return Calibration(path, model["name"], model["fingerprint"], data)


def calibrations(folder: Path = CALIBRATION_DIR) -> list[Calibration]:
    """Every calibration file in folder, by file name."""
    return [read_calibration(p) for p in sorted(folder.glob("*.toml"))]


def calibrated(
    settings: Settings, *, folder: Path = CALIBRATION_DIR
) -> tuple[Settings, str | None]:
    """settings with the calibration of the configured model applied to the keys the config
    file leaves unset, and None; or settings unchanged and a warning, when the model has no
    calibration (its bars are then the bundled model's, tuned on another scale).

    A model that cannot be found is left to the code that loads it, which names the setting.
    """
    try:
        name, location = resolve_model(settings.model)
    except ConfigError:
        return settings, None
    fingerprint = model_fingerprint(Path(location))
    known = calibrations(folder)
    for calibration in known:
        if calibration.name == name and calibration.fingerprint == fingerprint:
            return overlay(settings, calibration.values, origin=str(calibration.path)), None
    keys = {f"{section}.{key}" for section, names in CALIBRATED.items() for key in names}
    if keys <= settings.explicit:
        return settings, None  # the config file sets every calibrated number itself
    other = next((c for c in known if c.name == name), None)
    why = (
        f"its calibration ({other.path.name}) is for a different copy of it "
        f"(fingerprint {other.fingerprint}, this one {fingerprint})"
        if other is not None
        else "it has no calibration file"
    )
    return settings, (
        f"model {name!r}: {why}, so its fusion weights and decline bars are the ones tuned for "
        f"{BUNDLED_MODEL} on SQuAD, and answers and declines may be off; {HOW_TO_CALIBRATE}."
    )


def load_calibrated(
    path: Path | None, *, warn: bool = True, folder: Path = CALIBRATION_DIR
) -> Settings:
    """The settings every command and script uses: config file `path` (None: the defaults)
    with the configured model's calibration applied, as calibrated() does; its warning, if
    any, is logged unless warn is False. Scripts that read load_settings() alone would take
    the bars of bot/config.py for any model."""
    settings, warning = calibrated(load_settings(path), folder=folder)
    if warning and warn:
        log.warning("%s", warning)
    return settings
