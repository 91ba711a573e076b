"""Settings: read once from TOML in main(), validated, with defaults for every key."""

from __future__ import annotations

import re
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
    # The 1st percentile of the answerable SQuAD-dev tune questions' confidence (1.32 before
    # sentence vectors were pooled from their passages, which puts cosines ~0.05 lower).
    min_confidence: float = 1.27
    token_confidence_weight: float = 2.0
    min_confidence_without_tokens: float = 0.6
    unknown_name_penalty: float = 0.3
    # A question that hinges on a rare word the corpus never uses (lexical.unknown_terms), and
    # a who-question whose quote names no one: each costs this much confidence. Chosen on the
    # SQuAD-dev tune split with eval/decline_check.py (see eval/pip_docs/README.md).
    unknown_term_penalty: float = 0.5
    answer_type_penalty: float = 0.5
    max_question_chars: int = 1000
    # Further sources ("Also in the sources") must reach this confidence (the same formula):
    # the 1st percentile of the confidence of further sources that contain the answer, on
    # the SQuAD-dev tune split (eval/further_bar.py), as min_confidence is for top passages.
    min_further_confidence: float = 1.11
    # ...and their retrieval score (the fused score shown beside each source) must reach this:
    # the 1st percentile of those further sources' scores (eval/further_bar.py). It drops the
    # passages a small corpus ranks only for sharing the topic's words (shown at 0.2-0.5).
    min_further_score: float = 0.7


@dataclass(frozen=True)
class HelpChannel:
    """A help or forum channel whose new posts are answered without a mention when confident."""

    id: int = 0
    require_mention: bool = False
    threads: bool = True
    min_confidence: float = 0.0  # 0 = discord.help_min_confidence


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
    shard_count: int = 0  # 0 = as many as Discord recommends (with sharded = true)
    shard_ids: tuple[int, ...] = ()  # the shards this process runs; () = all of them
    help_channels: tuple[HelpChannel, ...] = ()
    help_min_confidence: float = 1.6
    message_command_public: bool = False
    gaps_file: str = "gaps.jsonl"
    gaps_distance: float = 0.4


@dataclass(frozen=True)
class SourceLink:
    """A [[sources]] entry: documents under folder (relative to seeds_dir) are published at
    url; suffixes rename the file's ending in the link (".md" -> ".html")."""

    folder: str
    url: str
    suffixes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Settings:
    """All settings; paths are resolved against the config file's folder."""

    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("embeddings")
    model: str = ""
    cache_dir: Path = Path.home() / ".cache" / "quotebot"
    # Where index builds run the model: "auto" = CUDA, else Apple MPS, else CPU. Questions are
    # always embedded on the CPU (ONNX).
    device: str = "auto"
    # The REPL and the Discord bot watch seeds_dir and update the index in the background.
    watch: bool = True
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    sources: tuple[SourceLink, ...] = ()


_SECTIONS = {
    "chunking": ChunkingSettings,
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "discord": DiscordSettings,
}
_CHOICES = {
    "device": ("auto", "cpu", "cuda", "mps"),
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
    "answer.unknown_term_penalty": 0,
    "answer.answer_type_penalty": 0,
    "answer.token_confidence_weight": 0,
    "answer.max_question_chars": 1,
    "discord.cooldown_seconds": 0,
    "discord.max_question_chars": 1,
    "discord.k": 1,
    "discord.shard_count": 0,
    "discord.help_min_confidence": 0,
    "discord.help_channels.id": 1,
    "discord.help_channels.min_confidence": 0,
    "discord.gaps_distance": 0.01,
    # Confidences are cosines on the model's scale; below 0 every question would be answered.
    "answer.min_confidence": 0,
    "answer.min_confidence_without_tokens": 0,
    "answer.min_further_confidence": 0,
}
# Above these nothing could ever pass or fit: a typo, not a choice. The confidence bars are
# checked against their formula's top in settings_from_dict; target_tokens against the
# model's own window when an index is built (bot.app.rebuild).
_MAXIMUM = {
    "chunking.target_tokens": 8192,
    "answer.min_confidence_without_tokens": 2,  # cosine + share of idf weight
    "answer.max_question_chars": 100_000,
    "discord.max_question_chars": 4000,  # Discord's own message limit
    "discord.gaps_distance": 2,
    "retrieval.k": 100,
}
# Settings that are lists of tables, and the dataclass each table is read into.
_TABLE_LISTS: dict[str, type] = {"discord.help_channels": HelpChannel}


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
    elif key in _TABLE_LISTS:
        value = _table_list(key, value)
    elif isinstance(default, tuple):
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{key} must be a list of numeric ids, not {value!r}")
        value = tuple(value)
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}, not {value!r}")
    # Entries of a list of tables share one minimum: discord.help_channels[2].id -> ...id.
    floor_key = re.sub(r"\[\d+\]", "", key)
    if floor_key in _MINIMUM and value < _MINIMUM[floor_key]:
        raise ConfigError(f"{key} must be at least {_MINIMUM[floor_key]}, not {value!r}")
    if floor_key in _MAXIMUM and value > _MAXIMUM[floor_key]:
        raise ConfigError(f"{key} must be at most {_MAXIMUM[floor_key]:,}, not {value!r}")
    return value


def _table_list(key: str, value: Any) -> tuple[Any, ...]:
    """A TOML array of tables ([[discord.help_channels]]) read into dataclasses; id required."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{key} must be a list of tables ([[{key}]] blocks), not {value!r}")
    out = []
    for i, table in enumerate(value):
        if "id" not in table:
            raise ConfigError(f"{key}[{i}].id is missing: each entry needs the channel's id")
        out.append(_build(_TABLE_LISTS[key], table, f"{key}[{i}]."))
    ids = [entry.id for entry in out]
    if len(set(ids)) < len(ids):
        raise ConfigError(f"{key} lists a channel id twice")
    return tuple(out)


def check_shards(shard_count: int, shard_ids: tuple[int, ...]) -> None:
    """Raise ConfigError unless shard_ids are distinct ids below shard_count (needed with ids)."""
    if shard_ids and not shard_count:
        raise ConfigError(
            "discord.shard_ids needs discord.shard_count (the total over all processes)"
        )
    bad = [i for i in shard_ids if not 0 <= i < shard_count]
    if bad:
        raise ConfigError(
            f"discord.shard_ids must be between 0 and shard_count - 1 ({shard_count - 1}), "
            f"not {bad[0]}"
        )
    if len(set(shard_ids)) < len(shard_ids):
        raise ConfigError("discord.shard_ids lists a shard twice")


def source_links(value: Any) -> tuple[SourceLink, ...]:
    """Validate the [[sources]] tables: folder and url strings, suffixes a table of strings."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"sources must be a list of tables ([[sources]] blocks), not {value!r}")
    links = []
    for i, table in enumerate(value):
        key = f"sources[{i}]"
        for name in table:
            if name not in ("folder", "url", "suffixes"):
                raise ConfigError(f"Unknown setting {key}.{name}")
        folder, url = table.get("folder", ""), table.get("url")
        if not isinstance(folder, str):
            raise ConfigError(f"{key}.folder must be a string, not {folder!r}")
        if not isinstance(url, str) or "://" not in url:
            raise ConfigError(f'{key}.url must be a URL such as "https://…/", not {url!r}')
        suffixes = table.get("suffixes", {})
        if not isinstance(suffixes, dict) or not all(
            isinstance(k, str) and k.startswith(".") and isinstance(v, str)
            for k, v in suffixes.items()
        ):
            raise ConfigError(
                f'{key}.suffixes must be a table like {{".md" = ".html"}}, not {suffixes!r}'
            )
        links.append(
            SourceLink(
                folder=folder.strip("/"),
                url=url,
                suffixes=tuple((k.lower(), v) for k, v in suffixes.items()),
            )
        )
    return tuple(links)


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
    top = {k: v for k, v in data.items() if k not in _SECTIONS and k != "sources"}
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
    answer = sections["answer"]
    top = 1 + answer.token_confidence_weight  # best-sentence cosine + weight x MaxSim
    if answer.min_further_confidence > top:
        raise ConfigError(
            f"answer.min_further_confidence must be at most {top:g} (1 + "
            f"token_confidence_weight), not {answer.min_further_confidence!r}"
        )
    if answer.min_confidence > top:
        raise ConfigError(
            f"answer.min_confidence must be at most {top:g} (1 + token_confidence_weight: "
            f"no answer can score more), not {answer.min_confidence!r}"
        )
    feedback = sections["discord"].feedback_file
    if not feedback.strip():
        raise ConfigError("discord.feedback_file must not be empty")
    gaps = sections["discord"].gaps_file
    if not gaps.strip():
        raise ConfigError("discord.gaps_file must not be empty")
    check_shards(sections["discord"].shard_count, sections["discord"].shard_ids)
    sections["discord"] = replace(
        sections["discord"],
        feedback_file=str((base / feedback).resolve()),
        gaps_file=str((base / gaps).resolve()),
    )
    return Settings(
        seeds_dir=(base / plain.seeds_dir).resolve(),
        index_dir=(base / plain.index_dir).resolve(),
        cache_dir=(base / Path(plain.cache_dir).expanduser()).resolve(),
        model=plain.model,
        device=plain.device,
        watch=plain.watch,
        sources=source_links(data.get("sources", [])),
        **sections,
    )


@dataclass(frozen=True)
class _TopLevel:
    seeds_dir: str = "seeds"
    index_dir: str = "embeddings"
    model: str = ""
    cache_dir: str = str(Path.home() / ".cache" / "quotebot")
    device: str = "auto"
    watch: bool = True


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
