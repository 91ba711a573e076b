import io
import logging
import re
import tomllib
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
from rich.console import Console

from bot.answer.compose import Answer
from bot.config import Settings, load_settings, settings_from_dict
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
# Lists of tables: documented as commented-out blocks at the end of the example.
TABLE_LISTS = {
    "discord.help_channels": "[[discord.help_channels]]",
    "sources": "[[sources]]",
    "scopes": "[[scopes]]",
}


def setting_keys(cls: type = Settings, prefix: str = "") -> set[str]:
    """Every key a config file can set ("retrieval.k"), sections walked."""
    keys = set()
    for f in fields(cls):
        if f.name == "explicit":
            continue
        default = f.default_factory() if callable(f.default_factory) else f.default
        if is_dataclass(default):
            keys |= setting_keys(type(default), f"{prefix}{f.name}.")
        else:
            keys.add(prefix + f.name)
    return keys


def dotted(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        if isinstance(value, dict):
            out |= dotted(value, f"{prefix}{key}.")
        else:
            out.add(prefix + key)
    return out


def test_example_config_documents_exactly_the_defaults(caplog):
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    with caplog.at_level(logging.WARNING):
        assert settings_from_dict(data, ROOT) == settings_from_dict({}, ROOT)
    assert not caplog.records  # no deprecated key in it


def test_every_setting_is_in_the_example_config_with_its_default():
    text = EXAMPLE.read_text(encoding="utf-8")
    shown = dotted(tomllib.loads(text))
    assert not shown - setting_keys()  # (settings_from_dict refuses unknown keys anyway)
    missing = setting_keys() - shown - set(TABLE_LISTS)
    assert not missing, f"not in config.example.toml: {sorted(missing)}"
    # Lists of tables are shown commented out, every field of their blocks included.
    for key, header in TABLE_LISTS.items():
        block = text[text.index(f"# {header}") :]
        cls = {"discord.help_channels": "HelpChannel", "sources": "SourceLink", "scopes": "Scope"}[
            key
        ]
        from bot import config

        for f in fields(getattr(config, cls)):
            assert re.search(rf"^# {f.name} = ", block, re.MULTILINE), f"{key}.{f.name}"
    assert "int8" not in text and "388 bytes" not in text and "2 GB" not in text


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


def test_deprecated_discord_keys_are_read_as_the_merged_ones_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        s = settings_from_dict({"discord": {"k": 5, "max_question_chars": 300}}, tmp_path)
    assert s.retrieval.k == 5 and s.answer.max_question_chars == 300
    assert "retrieval.k" in s.explicit and "answer.max_question_chars" in s.explicit
    said = caplog.text
    assert "discord.k is deprecated" in said and "retrieval.k" in said
    assert "discord.max_question_chars is deprecated" in said
    assert "answer.max_question_chars" in said
    assert not hasattr(s.discord, "k") and not hasattr(s.discord, "max_question_chars")


def test_a_deprecated_key_loses_to_the_new_one(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        s = settings_from_dict({"discord": {"k": 5}, "retrieval": {"k": 2}}, tmp_path)
    assert s.retrieval.k == 2
    assert "discord.k is deprecated and ignored, since retrieval.k is set" in caplog.text


def test_discord_keeps_its_own_question_cap_below_the_answer_setting(tmp_path):
    from bot.discord.format import QUESTION_LIMIT, question_limit

    assert QUESTION_LIMIT == 500  # as discord.max_question_chars defaulted to
    assert question_limit(settings_from_dict({}, tmp_path)) == 500  # answer's is 1000
    short = settings_from_dict({"answer": {"max_question_chars": 120}}, tmp_path)
    assert question_limit(short) == 120
    long = settings_from_dict({"answer": {"max_question_chars": 5000}}, tmp_path)
    assert question_limit(long) == 500


async def test_discord_refuses_questions_over_its_cap(tmp_path):
    from tests.discord_fakes import FakeAnswerer, FakeInteraction, make_bot

    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    inter = FakeInteraction(bot, "ask", question="x" * 501)
    await bot.tree._call(inter)
    [(kind, kwargs)] = inter.fake_response.calls
    assert kind == "send_message" and "limit is 500" in kwargs["content"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"include": "*.md"}, "include must be a list of patterns"),
        ({"exclude": ["drafts/**", 3]}, "exclude must be a list of patterns"),
        ({"exclude": ["!"]}, "exclude: Invalid git pattern"),
        ({"include": [" "]}, "include must be a list of patterns"),
    ],
)
def test_bad_include_or_exclude_patterns_fail_naming_the_key(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        settings_from_dict(data, tmp_path)


def write_seeds(seeds: Path) -> None:
    for rel, text in {
        "guide.md": "Tea comes from Camellia sinensis.",
        "notes.txt": "Coffee comes from Coffea arabica.",
        "drafts/plan.md": "Bees make honey in hives.",
        "drafts/old.xyz": "unsupported",
        "misc.xyz": "unsupported",
    }.items():
        path = seeds / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_excluded_files_are_neither_read_nor_counted_nor_hashed(tmp_path, caplog):
    from bot.ingest.corpus import Selection, discover, load_corpus, scan

    seeds = tmp_path / "seeds"
    write_seeds(seeds)
    select = Selection.of(settings_from_dict({"exclude": ["drafts/**"]}, tmp_path))
    assert [p.relative_to(seeds).as_posix() for p in discover(seeds, select)] == [
        "guide.md",
        "notes.txt",
    ]
    with caplog.at_level(logging.WARNING):
        docs, skipped = load_corpus(seeds, select=select)
    assert sorted(d.source for d in docs) == ["guide.md", "notes.txt"] and not skipped
    assert "Not indexed: 1 .xyz" in caplog.text  # misc.xyz; drafts/old.xyz is excluded
    assert set(scan(seeds, select=select)) == {"guide.md", "notes.txt"}
    everything = scan(seeds)
    assert set(everything) == {"guide.md", "notes.txt", "drafts/plan.md"}


def test_include_picks_the_documents(tmp_path, caplog):
    from bot.ingest.corpus import Selection, load_corpus

    seeds = tmp_path / "seeds"
    write_seeds(seeds)
    select = Selection.of(settings_from_dict({"include": ["**/*.md"]}, tmp_path))
    with caplog.at_level(logging.WARNING):
        docs, _ = load_corpus(seeds, select=select)
    assert sorted(d.source for d in docs) == ["drafts/plan.md", "guide.md"]
    assert "Not indexed" not in caplog.text  # .xyz files are not included, so not counted
    nothing = Selection(include=("**/*.md",), exclude=("*.md",))
    with pytest.raises(Exception, match="that include and exclude select"):
        load_corpus(seeds, select=nothing)


def test_an_excluded_file_never_makes_the_index_stale(tmp_path, fake_embedder):
    from bot import app

    seeds = tmp_path / "seeds"
    write_seeds(seeds)
    settings = settings_from_dict(
        {"cache_dir": "cache", "chunking": {"target_tokens": 20}, "exclude": ["drafts/"]},
        tmp_path,
    )
    app.rebuild(settings, fake_embedder, progress=False)
    (seeds / "drafts" / "plan.md").write_text("Changed while excluded.", encoding="utf-8")
    (seeds / "drafts" / "new.md").write_text("Added while excluded.", encoding="utf-8")
    loaded, reasons = app.open_index(settings, fake_embedder, update=False, progress=False)
    assert reasons == []
    assert sorted(d.source for d in loaded.index.documents) == ["guide.md", "notes.txt"]
    (seeds / "guide.md").write_text("Tea is a drink.", encoding="utf-8")
    _, reasons = app.open_index(settings, fake_embedder, update=False, progress=False)
    assert reasons  # a selected file still counts


# Today's texts, byte for byte: each is now a setting with this default.
DECLINE_ASK = "My sources don't cover that, so I won't guess. Try rephrasing."
DECLINE_REPL = (
    "My sources don't cover that, so I won't guess. Try rephrasing, or :sources to see what I know."
)
DECLINE_DISCORD = (
    "My sources don't cover that, so I won't guess. "
    "Try rephrasing, or use /sources to see what I can quote from."
)
HELP_REPL = """Ask a question in plain words; I answer only by quoting my sources.
  :help        this text
  :k N         quote up to N sources (now 3)
  :sources     list the documents I can quote
  :quit        leave (Ctrl-D works too; Ctrl-C clears the line)"""
HELP_DISCORD = (
    "I answer questions by quoting my source documents word for word, and I say so when "
    "they don't hold the answer.\n"
    "• **/ask** `question:` asks a question (only you see any error).\n"
    "• Mention me with a question, e.g. `@quotebot who directed the video?`, or reply to one "
    "of my answers to ask a follow-up. In a direct message, just write the question.\n"
    "• On any message, **Apps → Ask quotebot** answers it as a question.\n"
    "• **/sources** lists the documents I quote from.\n"
    "• 👍/👎 under an answer tell the maintainers whether it helped.\n"
    "Questions can be up to 500 characters; please wait 5 seconds between questions."
)


class Declines:
    def ask(self, question, k=None):
        return Answer(question, False)


class NoIndex:
    documents = ()


def repl_output(**texts) -> tuple[str, str]:
    from bot.frontends.repl import Repl

    console = Console(file=io.StringIO(), color_system=None, width=200)
    repl = Repl(Declines(), NoIndex(), console, 3, **texts)
    repl.handle("what is the airspeed of a swallow?")
    declined = console.file.getvalue()
    repl.handle(":help")
    return declined, console.file.getvalue()[len(declined) :]


def test_the_texts_are_settings_whose_defaults_are_todays_texts(tmp_path):
    from bot.discord.format import help_text

    s = settings_from_dict({}, tmp_path)
    assert s.answer.decline_text == DECLINE_ASK
    assert s.repl.decline_text == DECLINE_REPL
    assert s.discord.decline_text == DECLINE_DISCORD
    declined, helped = repl_output()
    assert declined == DECLINE_REPL + "\n" and helped == HELP_REPL + "\n"
    assert help_text("quotebot", 500, 5.0, s.discord.help_text) == HELP_DISCORD


def test_the_repl_shows_its_configured_texts(tmp_path):
    s = settings_from_dict(
        {"repl": {"decline_text": "Not in my books.", "help_text": "Ask me."}}, tmp_path
    )
    declined, helped = repl_output(decline=s.repl.decline_text, help_text=s.repl.help_text)
    assert declined == "Not in my books.\n"
    assert helped == "Ask me.\n" + HELP_REPL.split("\n", 1)[1] + "\n"


def test_ask_shows_the_configured_decline_text(tmp_path, settings, use_fake, capsys):
    from bot.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text(
        'cache_dir = "cache"\n[chunking]\ntarget_tokens = 20\n'
        '[answer]\nmin_confidence = 3.0\ndecline_text = "Nothing on that here."\n',
        encoding="utf-8",
    )
    assert main(["ask", "Where is Mount Etna?", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out == "Nothing on that here.\n"


async def test_discord_shows_its_configured_texts(tmp_path):
    from tests.discord_fakes import FakeAnswerer, FakeInteraction, deliver, dm_message, make_bot

    bot, http, _ = await make_bot(
        tmp_path, FakeAnswerer(answered=False), decline_text="Nope.", help_text="Hi, I quote."
    )
    await deliver(bot, dm_message(bot, "what is the airspeed of a swallow?"))
    [sent] = http.sent
    assert sent["content"] == "Nope."
    inter = FakeInteraction(bot, "help")
    await bot.tree._call(inter)
    [(_, kwargs)] = inter.fake_response.calls
    assert kwargs["content"] == "Hi, I quote.\n" + HELP_DISCORD.split("\n", 1)[1]


@pytest.mark.parametrize("key", ["answer", "repl", "discord"])
def test_an_empty_text_is_refused(tmp_path, key):
    with pytest.raises(ConfigError, match=f"{key}.decline_text must be a text of 1 to"):
        settings_from_dict({key: {"decline_text": "  "}}, tmp_path)
