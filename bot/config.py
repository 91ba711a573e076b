"""Settings: read once from TOML in main(), validated, with defaults for every key."""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from itertools import combinations
from pathlib import Path, PurePosixPath
from typing import Any

from bot.errors import ConfigError

log = logging.getLogger(__name__)

# The texts shown to users; each front end says where its own list of sources is.
DECLINE_TEXT = "My sources don't cover that, so I won't guess. Try rephrasing."
REPL_DECLINE_TEXT = (
    "My sources don't cover that, so I won't guess. Try rephrasing, or :sources to see what I know."
)
REPL_HELP_TEXT = "Ask a question in plain words; I answer only by quoting my sources."
DISCORD_DECLINE_TEXT = (
    "My sources don't cover that, so I won't guess. "
    "Try rephrasing, or use /sources to see what I can quote from."
)
DISCORD_HELP_TEXT = (
    "I answer questions by quoting my source documents word for word, and I say so when "
    "they don't hold the answer."
)


@dataclass(frozen=True)
class ChunkingSettings:
    """How documents are cut into passages."""

    target_tokens: int = 160
    overlap_sentences: int = 1
    embed_titles: bool = True
    # With embed_titles: each passage is also embedded with the headings it sits under, so
    # the model reads the second passage of a section as what its heading says it is.
    embed_sections: bool = True
    token_vectors: bool = True

    @property
    def sections_embedded(self) -> bool:
        """Whether passages are embedded under their headings (embed_sections needs the
        title line it extends)."""
        return self.embed_titles and self.embed_sections


@dataclass(frozen=True)
class RetrievalSettings:
    """How passages are scored and fused. The fusion weights and rerank_depth are calibrated
    per model (bot/calibration/): these defaults are the bundled all-MiniLM-L6-v2's."""

    k: int = 3  # sources quoted per answer, in every front end
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
    """How answers are composed and when the bot declines. The confidence bars and penalties
    are calibrated per model (bot/calibration/): these defaults are all-MiniLM-L6-v2's."""

    max_quote_sentences: int = 2
    # The 1st percentile of the answerable SQuAD-dev tune questions' confidence.
    min_confidence: float = 1.27
    token_confidence_weight: float = 2.0
    min_confidence_without_tokens: float = 0.6
    unknown_name_penalty: float = 0.3
    # A question that hinges on a rare word the corpus never uses (lexical.unknown_terms), and
    # a who-question whose quote names no one: each costs this much confidence. Chosen on the
    # SQuAD-dev tune split with eval/decline_check.py (see eval/pip_docs/README.md).
    unknown_term_penalty: float = 0.5
    answer_type_penalty: float = 0.5
    # A question asking for an amount (how many, how long, how often, since which version:
    # wording.asks_for_quantity) is declined when its quoted passage tells no amount at all
    # (wording.tells_no_amount): documentation about the thing, without the number. Asked
    # which version (wording.asks_for_version), the passage must name one (tells_no_version);
    # asked for a limit (asks_for_limit), it must tell of one (tells_no_limit).
    # Chosen on the development sets and SQuAD-dev's tune split (README, Declining).
    amount_check: bool = True
    max_question_chars: int = 1000  # every front end (Discord caps it lower: QUESTION_LIMIT)
    # Further sources ("Also in the sources") must reach this confidence (the same formula):
    # the 1st percentile of the confidence of further sources that contain the answer, on
    # the SQuAD-dev tune split (eval/further_bar.py), as min_confidence is for top passages.
    min_further_confidence: float = 1.11
    # ...and their retrieval score (the fused score shown beside each source) must reach this:
    # the 1st percentile of those further sources' scores (eval/further_bar.py). It drops the
    # passages a small corpus ranks only for sharing the topic's words (shown at 0.2-0.5).
    min_further_score: float = 0.7
    # What `ask` says when it declines.
    decline_text: str = DECLINE_TEXT
    # The verifier (bot/answer/verify.py) reads the question with passages among the first
    # verifier_pool of the fused ranking; the passage quoted is the best by retrieval score
    # plus verifier_weight times its probability of answering, and an answer whose passage the
    # verifier gives less than min_verifier is declined (0: never declined by it). At weight 0
    # it reads only the passages that may be quoted (compose.Verdicts). The shipped verifier
    # only declines: weighting it in chose no better passage on the tune articles it never
    # trained on (training/verifier_card.md).
    verifier: bool = True
    verifier_pool: int = 10
    verifier_weight: float = 0.0
    min_verifier: float = 0.0064
    # ...and reads each sentence of the quoted passage, adding this times its probability to
    # the sentence's score when the answering sentence is marked (0: it does not).
    verifier_sentence_weight: float = 0.0
    # A sentence's score for being the marked one also counts this times the share of the
    # question's idf weight in the heading it sits under (or the FAQ question before it):
    # the answer is under the heading that repeats the question's words, not beside it
    # (0: headings do not count). Chosen with eval/docs_dev.py on the documentation
    # development sets, never on a reported set: 2 was chosen on questions mined from the
    # headings themselves; on 473 people's questions of 30 projects 1 marks 7 more answers
    # than 2, no set fewer (on 23 of the projects 1.5 marks fewer, 0 and 0.5 as many), and
    # 2 fewer of the 205 mined ones.
    heading_weight: float = 1.0
    # For a question told in the first person ("my build fails", "can I ..."), a sentence's
    # score gains this share of the score of the sentence before it in its paragraph: the
    # documents restate the problem, then answer it ("It will fail if /tmp is mounted with
    # the noexec option." then "You can change the temporary directory by setting TEMP").
    # Chosen on the development sets (eval/docs_dev.py); SQuAD asks no such questions.
    follow_weight: float = 0.5
    # The top passage may also have marked one of the next reach_forward sentences of its
    # document under the same heading (0: only its own, and the one before it that its
    # boundary cut from its paragraph): a passage that ends on a heading and the problem it
    # names leaves the answer to the next passage ("How do I work around the CUDA initialized
    # before forking error?" ... "Switching from fork to spawn"). Chosen on the development
    # sets (eval/docs_dev.py): 2 and 3 gave the same quotes, 4, 5 and 8 none better.
    reach_forward: int = 3
    # For a question of a kind whose answer has a telltale form (wording.answer_forms), a
    # sentence of that form gains this much: asked how to fix, avoid or work around
    # something, one that offers a way out ("As a temporary workaround, disable…", "You can
    # change…"), where the documents explain the problem first in sentences sharing more of
    # the question's words; asked where, one that says where ("stored in …", a path); asked
    # how many, how long or since which version, one that tells an amount (a numeral, "three",
    # "once per hour"); asked yes or no, one that says no or "only" ("For now, only Basic
    # authentication is supported."); asked for a default, one that names the default value
    # ("The new default is --resolver=backtracking"); asked why, one that names a cause
    # ("This may be caused by running out of inotify resources"). Chosen on the development sets
    # (eval/marking_replay.py): 0.25 to 0.4 gain, 0.2 changes nothing for the remedy; 0.2 to
    # 0.5 gain for the place; the amount gains as much at 0.3 to 1.0, one fewer at 0.2; yes
    # or no gains at every weight from 0.1 to 1.0; the default most at 0.3 and 0.5; the cause
    # most at 0.3, one fewer on dev13 at 0.5 (README, Evaluating).
    cue_weight: float = 0.3


@dataclass(frozen=True)
class ReplSettings:
    """The texts of the interactive terminal."""

    decline_text: str = REPL_DECLINE_TEXT
    help_text: str = REPL_HELP_TEXT  # the first line of :help; the list of commands follows


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
    guild_ids: tuple[int, ...] = ()
    channel_ids: tuple[int, ...] = ()
    owner_ids: tuple[int, ...] = ()
    dev_guild_id: int = 0
    threads: bool = False
    dms: bool = True
    feedback_file: str = "feedback.jsonl"
    sharded: bool = False
    shard_count: int = 0  # 0 = as many as Discord recommends (with sharded = true)
    shard_ids: tuple[int, ...] = ()  # the shards this process runs; () = all of them
    help_channels: tuple[HelpChannel, ...] = ()
    help_min_confidence: float = 1.6
    message_command_public: bool = False
    gaps_file: str = "gaps.jsonl"
    gaps_distance: float = 0.4
    # Entries of the gaps log older than this many days are dropped (0 keeps them all).
    gaps_retention_days: int = 90
    # Roles (ids or names) whose members may use /gaps, besides those with Manage Server.
    gaps_roles: tuple[int | str, ...] = ()
    decline_text: str = DISCORD_DECLINE_TEXT
    help_text: str = DISCORD_HELP_TEXT  # the start of /help; the commands and limits follow


@dataclass(frozen=True)
class SourceLink:
    """A [[sources]] entry: documents under folder (relative to seeds_dir) are published at
    url; suffixes rename the file's ending in the link (".md" -> ".html")."""

    folder: str
    url: str
    suffixes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Scope:
    """A [[scopes]] entry: documents under folders (relative to seeds_dir) may be quoted only
    where the rules allow. In a server: in channels, or channels under categories (ids or
    names; a thread counts as its parent channel; none listed = any channel), to members with
    one of roles (ids or names; none listed = anyone there). In a DM: when dm is true, to users
    with one of roles in a server the bot shares with them (anyone, when roles is empty)."""

    name: str
    folders: tuple[str, ...]
    channels: tuple[int | str, ...] = ()
    categories: tuple[int | str, ...] = ()
    roles: tuple[int | str, ...] = ()
    dm: bool = False

    def rules(self) -> tuple[object, ...]:
        """What decides who may read it (two scopes over one document must agree on it)."""
        return (
            frozenset(self.channels),
            frozenset(self.categories),
            frozenset(self.roles),
            self.dm,
        )

    def holds(self, source: str) -> bool:
        """Whether the document at source (relative to seeds_dir, "/"-separated) is in it."""
        return any(f == "" or source == f or source.startswith(f + "/") for f in self.folders)


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
    # Which files under seeds_dir are documents: gitignore-style patterns relative to it. A
    # file is read when it matches an include pattern and no exclude pattern (and a reader
    # exists for its type); the others are not indexed, counted or watched for staleness.
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    repl: ReplSettings = field(default_factory=ReplSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    sources: tuple[SourceLink, ...] = ()
    scopes: tuple[Scope, ...] = ()
    # The keys the config file set ("retrieval.k", "model"): a calibration never overrides them.
    explicit: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


_SECTIONS = {
    "chunking": ChunkingSettings,
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "repl": ReplSettings,
    "discord": DiscordSettings,
}
# Keys that were merged into others: still read, with a warning, as the key they became.
_DEPRECATED = {
    "discord.k": "retrieval.k",
    "discord.max_question_chars": "answer.max_question_chars",
}
# Settings that are lists of strings (the others are lists of numeric ids).
_STRING_LISTS = ("include", "exclude")
# Settings that name Discord roles or channels by id or by name.
_ID_OR_NAME_LISTS = ("discord.gaps_roles",)
# Texts shown to users: not empty, and a Discord one must fit in a message.
_TEXTS = {
    "answer.decline_text": 4000,
    "repl.decline_text": 4000,
    "repl.help_text": 4000,
    "discord.decline_text": 2000,
    "discord.help_text": 1000,
}
_CHOICES = {
    "device": ("auto", "cpu", "cuda", "mps"),
    "retrieval.backend": ("exact", "usearch"),
    "retrieval.storage_dtype": ("float32", "float16"),
}
_MINIMUM = {
    "discord.gaps_retention_days": 0,
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
    "answer.verifier_pool": 1,
    "answer.verifier_weight": 0,
    "answer.min_verifier": 0,
    "answer.verifier_sentence_weight": 0,
    "answer.heading_weight": 0,
    "answer.follow_weight": 0,
    "answer.reach_forward": 0,
    "answer.cue_weight": 0,
    "answer.max_question_chars": 1,
    "discord.cooldown_seconds": 0,
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
    "discord.gaps_distance": 2,
    "retrieval.k": 100,
    "answer.verifier_pool": 100,
    "answer.min_verifier": 1,  # a probability
    "answer.reach_forward": 100,
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
    elif key in _STRING_LISTS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(
                f'{key} must be a list of patterns such as ["docs/**"], not {value!r}'
            )
        import pathspec  # gitignore-style patterns, as bot.ingest.corpus.Selection reads them

        try:
            pathspec.GitIgnoreSpec.from_lines(value)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
        value = tuple(value)
    elif key in _ID_OR_NAME_LISTS:
        value = ids_or_names(key, value)
    elif isinstance(default, tuple):
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{key} must be a list of numeric ids, not {value!r}")
        value = tuple(value)
    if key in _TEXTS and not (value.strip() and len(value) <= _TEXTS[key]):
        raise ConfigError(f"{key} must be a text of 1 to {_TEXTS[key]:,} characters")
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


def ids_or_names(key: str, value: Any) -> tuple[int | str, ...]:
    """A list of Discord ids (numbers) or names (non-empty strings)."""
    if not isinstance(value, list) or not all(
        (isinstance(v, int) and not isinstance(v, bool) and v > 0)
        or (isinstance(v, str) and v.strip())
        for v in value
    ):
        raise ConfigError(
            f'{key} must be a list of ids or names such as [1234, "staff"], not {value!r}'
        )
    return tuple(v.strip() if isinstance(v, str) else v for v in value)


_SCOPE_KEYS = ("name", "folders", "channels", "categories", "roles", "dm")


def scopes_from(value: Any) -> tuple[Scope, ...]:
    """Validate the [[scopes]] tables. Folders are relative to seeds_dir; two scopes over one
    folder (or one inside the other) must have the same rules, else no one could tell which
    applies."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"scopes must be a list of tables ([[scopes]] blocks), not {value!r}")
    out: list[Scope] = []
    for i, table in enumerate(value):
        key = f"scopes[{i}]"
        for name in table:
            if name not in _SCOPE_KEYS:
                raise ConfigError(f"Unknown setting {key}.{name}")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{key}.name must be a non-empty string, not {name!r}")
        key = f"scopes[{i}] ({name})"
        folders = table.get("folders")
        if isinstance(folders, str):
            folders = [folders]
        if (
            not isinstance(folders, list)
            or not folders
            or not all(isinstance(f, str) and f.strip() for f in folders)
        ):
            raise ConfigError(
                f'{key}.folders must be a list of folders such as ["staff"], not {folders!r}'
            )
        clean = []
        for f in folders:
            parts = PurePosixPath(f.replace("\\", "/").strip()).parts
            if (not parts and f.strip() not in (".", "./")) or parts[:1] == ("/",) or ".." in parts:
                raise ConfigError(f"{key}.folders: {f!r} must be a folder inside seeds_dir")
            clean.append("/".join(p for p in parts if p != "."))
        dm = table.get("dm", False)
        if not isinstance(dm, bool):
            raise ConfigError(f"{key}.dm must be true or false, not {dm!r}")
        out.append(
            Scope(
                name=name.strip(),
                folders=tuple(clean),
                channels=ids_or_names(f"{key}.channels", table.get("channels", [])),
                categories=ids_or_names(f"{key}.categories", table.get("categories", [])),
                roles=ids_or_names(f"{key}.roles", table.get("roles", [])),
                dm=dm,
            )
        )
    names = [s.name for s in out]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"scopes: the name {n!r} is used twice")
    for a, b in combinations(out, 2):
        for fa in a.folders:
            for fb in b.folders:
                if (a.holds(fb) or b.holds(fa)) and a.rules() != b.rules():
                    inner = fb if a.holds(fb) else fa
                    raise ConfigError(
                        f"scopes {a.name!r} and {b.name!r} both match the documents in "
                        f"{inner!r} with different rules; give each folder one set of rules"
                    )
    return tuple(out)


def check_scope_folders(settings: Settings) -> None:
    """Raise ConfigError naming the first [[scopes]] folder that is not a folder of
    seeds_dir (a typo there would leave its documents public)."""
    for scope in settings.scopes:
        for folder in scope.folders:
            if not (settings.seeds_dir / folder).is_dir():
                raise ConfigError(
                    f"scope {scope.name!r}: the folder {folder!r} does not exist in "
                    f"{settings.seeds_dir}"
                )


def _build(cls: type, table: dict[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in known:
            raise ConfigError(f"Unknown setting {prefix}{key}")
    defaults = cls()
    values = {k: _coerce(prefix + k, v, getattr(defaults, k)) for k, v in table.items()}
    return cls(**values)


def _check_consistency(retrieval: RetrievalSettings, answer: AnswerSettings) -> None:
    """Raise ConfigError for values that are each in range but cannot work together."""
    if (
        retrieval.dense_weight
        + retrieval.sentence_weight
        + retrieval.lexical_weight
        + retrieval.phrase_weight
        <= 0
    ):
        raise ConfigError(
            "retrieval.dense_weight, sentence_weight, lexical_weight and phrase_weight "
            "cannot all be 0"
        )
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


def _undeprecate(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of data with each deprecated key moved to the key it became, with a warning; when
    both are set, the new key wins."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for old, new in _DEPRECATED.items():
        old_section, old_key = old.split(".")
        new_section, new_key = new.split(".")
        table = data.get(old_section)
        if not isinstance(table, dict) or old_key not in table:
            continue
        value = table.pop(old_key)
        target = data.setdefault(new_section, {})
        if not isinstance(target, dict):
            continue  # reported below: [section] must be a table
        if new_key in target:
            log.warning("%s is deprecated and ignored, since %s is set: remove %s", old, new, old)
        else:
            log.warning(
                "%s is deprecated: read as %s, which applies to every front end; rename it",
                old,
                new,
            )
            target[new_key] = value
    return data


def settings_from_dict(data: dict[str, Any], base: Path) -> Settings:
    """Validate a parsed TOML table into Settings; relative paths resolve against base."""
    data = _undeprecate(data)
    top = {k: v for k, v in data.items() if k not in _SECTIONS and k not in ("sources", "scopes")}
    sections = {}
    explicit = set(top) | ({"sources", "scopes"} & set(data))
    for name, cls in _SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table")
        sections[name] = _build(cls, table, f"{name}.")
        explicit |= {f"{name}.{key}" for key in table}
    plain = _build(_TopLevel, top, "")
    _check_consistency(sections["retrieval"], sections["answer"])
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
        include=plain.include,
        exclude=plain.exclude,
        sources=source_links(data.get("sources", [])),
        scopes=scopes_from(data.get("scopes", [])),
        explicit=frozenset(explicit),
        **sections,
    )


def overlay(settings: Settings, tables: dict[str, Any], *, origin: str) -> Settings:
    """settings with the values of tables ({"answer": {"min_confidence": 1.2}}) for the keys
    the config file did not set (Settings.explicit), each checked as the config file's are;
    errors name origin (the file the values come from)."""
    changed: dict[str, Any] = {}
    for name, table in tables.items():
        if name not in _SECTIONS or not isinstance(table, dict):
            raise ConfigError(f"{origin}: [{name}] is not a section of the settings")
        current = getattr(settings, name)
        known = {f.name for f in fields(current)}
        values = {}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(f"{origin}: unknown setting {name}.{key}")
            if f"{name}.{key}" in settings.explicit:
                continue
            try:
                values[key] = _coerce(f"{name}.{key}", value, getattr(current, key))
            except ConfigError as exc:
                raise ConfigError(f"{origin}: {exc}") from None
        changed[name] = replace(current, **values)
    result = replace(settings, **changed)
    try:
        _check_consistency(result.retrieval, result.answer)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (with the values of {origin})") from None
    return result


@dataclass(frozen=True)
class _TopLevel:
    seeds_dir: str = "seeds"
    index_dir: str = "embeddings"
    model: str = ""
    cache_dir: str = str(Path.home() / ".cache" / "quotebot")
    device: str = "auto"
    watch: bool = True
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()


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
    settings = settings_from_dict(data, path.resolve().parent)
    if settings.seeds_dir.is_dir():  # a missing seeds_dir has its own message, later
        check_scope_folders(settings)
    return settings
