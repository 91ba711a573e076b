"""Settings: read once from TOML in main(), validated, with defaults for every key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bot.errors import ConfigError


@dataclass(frozen=True)
class ChunkingSettings:
    """How documents are cut into passages."""

    target_tokens: int = 160
    overlap_sentences: int = 1
    embed_titles: bool = True
    token_vectors: bool = True


@dataclass(frozen=True)
class RetrievalSettings:
    """How passages are scored and fused."""

    k: int = 3
    candidates: int = 200
    dense_weight: float = 0.25
    sentence_weight: float = 0.5
    lexical_weight: float = 1.0
    phrase_weight: float = 0.2
    token_weight: float = 0.5
    rerank_depth: int = 20
    backend: str = "exact"  # "exact" or "usearch"
    approximate_from: int = 100_000
    storage_dtype: str = "float32"  # "float32" or "float16"


@dataclass(frozen=True)
class AnswerSettings:
    """How answers are composed and when the bot declines."""

    max_quote_sentences: int = 2
    min_confidence: float = 1.32
    token_confidence_weight: float = 2.0
    min_confidence_without_tokens: float = 0.6
    unknown_name_penalty: float = 0.3
    max_question_chars: int = 1000


@dataclass(frozen=True)
class DiscordSettings:
    """The Discord front end."""

    cooldown_seconds: float = 5.0
    max_question_chars: int = 500
    guild_ids: tuple[int, ...] = ()
    channel_ids: tuple[int, ...] = ()
    owner_ids: tuple[int, ...] = ()
    dev_guild_id: int = 0
    threads: bool = False
    dms: bool = True
    k: int = 3
    feedback_file: str = "feedback.jsonl"
    sharded: bool = False


@dataclass(frozen=True)
class Settings:
    """All settings; paths are resolved against the config file's folder."""

    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("embeddings")
    model: str = ""
    cache_dir: Path = Path.home() / ".cache" / "quotebot"
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)


_SECTIONS = {
    "chunking": ChunkingSettings,
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "discord": DiscordSettings,
}
_CHOICES = {
    "retrieval.backend": ("exact", "usearch"),
    "retrieval.storage_dtype": ("float32", "float16"),
}
_MINIMUM = {
    "chunking.target_tokens": 16,
    "chunking.overlap_sentences": 0,
    "retrieval.k": 1,
    "retrieval.candidates": 1,
    "retrieval.dense_weight": 0,
    "retrieval.sentence_weight": 0,
    "retrieval.lexical_weight": 0,
    "retrieval.phrase_weight": 0,
    "retrieval.token_weight": 0,
    "retrieval.rerank_depth": 1,
    "retrieval.approximate_from": 1,
    "answer.max_quote_sentences": 1,
    "answer.unknown_name_penalty": 0,
    "answer.token_confidence_weight": 0,
    "answer.max_question_chars": 1,
    "discord.cooldown_seconds": 0,
    "discord.max_question_chars": 1,
    "discord.k": 1,
}


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check value against the type of its default; name the key when it does not fit."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, not {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be a whole number, not {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, not {value!r}")
        value = float(value)
    elif isinstance(default, str | Path):
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, not {value!r}")
    elif isinstance(default, tuple):
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{key} must be a list of numeric ids, not {value!r}")
        value = tuple(value)
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}, not {value!r}")
    if key in _MINIMUM and value < _MINIMUM[key]:
        raise ConfigError(f"{key} must be at least {_MINIMUM[key]}, not {value!r}")
    return value


def _build(cls: type, table: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"Unknown setting {prefix}{key}")
    defaults = cls()
    values = {k: _coerce(prefix + k, v, getattr(defaults, k)) for k, v in table.items()}
    return cls(**values)


def settings_from_dict(data: dict[str, Any], base: Path) -> Settings:
    """Validate a parsed TOML table into Settings; relative paths resolve against base."""
    top = {k: v for k, v in data.items() if k not in _SECTIONS}
    sections = {}
    for name, cls in _SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _build(cls, table, f"{name}.")
    plain = _build(_TopLevel, top, "")
    weights = sections["retrieval"]
    if (
        weights.dense_weight
        + weights.sentence_weight
        + weights.lexical_weight
        + weights.phrase_weight
        <= 0
    ):
        raise ConfigError(
            "retrieval.dense_weight, sentence_weight, lexical_weight and phrase_weight "
            "cannot all be 0"
        )
    feedback = sections["discord"].feedback_file
    if not feedback.strip():
        raise ConfigError("discord.feedback_file must not be empty")
    sections["discord"] = replace(
        sections["discord"], feedback_file=str((base / feedback).resolve())
    )
    return Settings(
        seeds_dir=(base / plain.seeds_dir).resolve(),
        index_dir=(base / plain.index_dir).resolve(),
        cache_dir=(base / Path(plain.cache_dir).expanduser()).resolve(),
        model=plain.model,
        **sections,
    )


@dataclass(frozen=True)
class _TopLevel:
    seeds_dir: str = "seeds"
    index_dir: str = "embeddings"
    model: str = ""
    cache_dir: str = str(Path.home() / ".cache" / "quotebot")


def load_settings(path: Path | None) -> Settings:
    """Read settings from path, or config.toml in the working folder if present, else defaults."""
    explicit = path is not None
    path = path if path is not None else Path("config.toml")
    if not path.exists():
        if explicit:
            raise ConfigError(f"Config file {path} does not exist")
        return settings_from_dict({}, Path.cwd())
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot parse {path}: {exc}") from exc
    return settings_from_dict(data, path.resolve().parent)
