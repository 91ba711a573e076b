"""The Discord handlers driven offline: real discord.py objects from payloads, fake HTTP."""

from __future__ import annotations

import asyncio
import json
import logging

import discord
import pytest

from bot.discord import client as discord_bot
from bot.discord.checks import GENERIC_ERROR
from bot.discord.exts.info import REINDEX_DENIED
from bot.discord.format import DECLINE
from tests.discord_fakes import (
    BOT_ID,
    OTHER_CHANNEL_ID,
    FakeAnswerer,
    FakeInteraction,
    deliver,
    dm_message,
    guild_message,
    make_bot,
    message_payload,
    run_command,
    source,
    user_payload,
)

NONE = {"parse": []}  # allowed_mentions as sent on the wire when nothing may be pinged


def description(payload) -> str:
    return payload["embeds"][0]["description"]


async def test_mention_gets_reply_with_quote_and_source(tmp_path):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer())
    msg = guild_message(bot, f"<@{BOT_ID}> who directed the video?")
    await deliver(bot, msg)
    [sent] = http.sent
    embed = sent["embeds"][0]
    assert "**The answer to who directed the video? is here.**" in embed["description"]
    assert embed["title"] == "Music video"
    assert "video.txt" in embed["footer"]["text"] and "score 0.80" in embed["footer"]["text"]
    assert sent["message_reference"]["message_id"] == msg.id  # a reply to the question
    assert (
        sent["allowed_mentions"]["parse"] == []
        and sent["allowed_mentions"]["replied_user"] is False
    )
    assert http.typing == [msg.channel.id]  # typing indicator while answering
    assert [c["type"] for c in sent["components"][0]["components"]] == [2, 2]  # 👍/👎 buttons


async def test_everyone_in_question_and_source_pings_nobody(tmp_path):
    answerer = FakeAnswerer()
    answerer.results = [
        source(
            "Hi @everyone and <@123456789012345678>. Ping @here now.",
            "Hi @everyone and <@123456789012345678>.",
        )
    ]
    bot, http, _ = await make_bot(tmp_path, answerer)
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> @everyone who? <@&123456789012345678>"))
    [sent] = http.sent
    assert sent["allowed_mentions"]["parse"] == []
    assert not sent["allowed_mentions"].get("users") and not sent["allowed_mentions"].get("roles")
    text = description(sent)
    assert "@everyone" not in text and "@here" not in text and "<@1234" not in text
    assert "@\u200beveryone" in text  # still readable, but inert


async def test_bot_default_allowed_mentions_is_none(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    assert bot.allowed_mentions.to_dict() == discord.AllowedMentions.none().to_dict()


async def test_long_passage_is_shortened_within_limits_keeping_quote(tmp_path):
    sentences = [
        f"Filler sentence number {i} talks about nothing in particular at all." for i in range(60)
    ]
    quote = "The video was directed by Jane Example in 2019."
    passage = " ".join([*sentences[:30], quote, *sentences[30:]])
    assert len(passage) > 3000
    answerer = FakeAnswerer()
    answerer.results = [source(passage, quote)] + [
        source(passage, sentences[5], title=f"T{i}") for i in range(2)
    ]
    bot, http, _ = await make_bot(tmp_path, answerer)
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> who directed it?"))
    [sent] = http.sent
    embed = discord.Embed.from_dict(sent["embeds"][0])
    assert len(embed) <= 6000 and len(embed.description) <= 4096
    assert all(len(f.value) <= 1024 for f in embed.fields) and len(embed.fields) == 2
    assert f"**{quote}**" in embed.description


async def test_cooldown_refuses_second_question_and_says_when(tmp_path):
    bot, http, clock = await make_bot(tmp_path, FakeAnswerer(), cooldown_seconds=10)
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> first?"))
    clock.now += 3
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> second?"))
    assert "embeds" in http.sent[0] and http.sent[0]["embeds"]
    assert http.sent[1]["content"] == "You're asking quickly: please try again in 7 seconds."
    clock.now += 7
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> third?"))
    assert http.sent[2]["embeds"]


async def test_bots_and_itself_are_ignored(tmp_path):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer())
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> hello?", author_id=4242, author_bot=True))
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> hello?", author_id=BOT_ID, author_bot=True))
    await deliver(bot, guild_message(bot, "no mention here", mention_bot=False))
    assert http.sent == [] and http.typing == []


async def test_dm_is_answered_without_mention(tmp_path):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer())
    await deliver(bot, dm_message(bot, "who directed the video?"))
    [sent] = http.sent
    assert "who directed the video?" in description(sent)


async def test_reply_to_bot_answer_is_a_new_question(tmp_path):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer())
    previous = message_payload(1, user_payload(BOT_ID, "quotebot", bot=True), "")
    msg = guild_message(
        bot,
        "and when?",
        mention_bot=False,
        type=19,
        message_reference={"message_id": previous["id"], "channel_id": previous["channel_id"]},
        referenced_message=previous,
    )
    await deliver(bot, msg)
    [sent] = http.sent
    assert "and when?" in description(sent)


async def test_channel_allow_list(tmp_path):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer(), channel_ids=[OTHER_CHANNEL_ID])
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> here?"))
    assert http.sent == []
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> there?", channel_id=OTHER_CHANNEL_ID))
    assert len(http.sent) == 1


async def test_thread_mode_answers_in_a_new_thread(tmp_path):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer(), threads=True)
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> who directed the video?"))
    [thread] = http.threads
    assert thread["name"] == "who directed the video?"
    [sent] = http.sent
    assert sent["channel_id"] == thread["id"] and sent["allowed_mentions"]["parse"] == []


async def test_decline_is_short_and_friendly(tmp_path):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer(answered=False))
    await deliver(bot, dm_message(bot, "what is the airspeed of a swallow?"))
    [sent] = http.sent
    assert sent["content"] == DECLINE and not sent.get("embeds")


async def test_fifty_concurrent_questions_all_answered_off_the_loop(tmp_path):
    answerer = FakeAnswerer()
    answerer.release = __import__("threading").Event()
    bot, http, _ = await make_bot(tmp_path, answerer)
    msgs = [guild_message(bot, f"<@{BOT_ID}> question {i}?", author_id=2000 + i) for i in range(50)]
    pending = asyncio.gather(*(deliver(bot, m) for m in msgs))
    # ask() is now blocked in the worker thread; the loop must still be free to run this.
    assert await asyncio.to_thread(answerer.started.wait, 10)
    answerer.release.set()
    await pending
    assert len(http.sent) == 50
    answered = sorted(
        description(s).split("The answer to ")[1].split(" is here")[0] for s in http.sent
    )
    assert answered == sorted(f"question {i}?" for i in range(50))
    assert all(name.startswith("quotebot-core") for name in answerer.threads)


async def test_core_exception_is_friendly_and_logged(tmp_path, caplog):
    bot, http, _ = await make_bot(tmp_path, FakeAnswerer(raises=RuntimeError("boom in core")))
    with caplog.at_level(logging.ERROR):
        await deliver(bot, guild_message(bot, f"<@{BOT_ID}> crash?"))
    [sent] = http.sent
    assert sent["content"] == GENERIC_ERROR and "boom" not in sent["content"]
    assert any(r.exc_info and "boom in core" in str(r.exc_info[1]) for r in caplog.records)


async def test_slash_ask_defers_then_answers(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    inter = FakeInteraction(bot, "ask", question="who directed the video?")
    await run_command(bot, inter)
    assert inter.fake_response.calls[0][0] == "defer"
    [sent] = inter.fake_followup.sent
    assert "**The answer to who directed the video? is here.**" in sent["embed"].description
    assert sent["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict()


async def test_slash_core_exception_goes_through_error_handler(tmp_path, caplog):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer(raises=ValueError("kaput")))
    inter = FakeInteraction(bot, "ask", question="crash?")
    with caplog.at_level(logging.ERROR):
        await run_command(bot, inter)
    [sent] = inter.fake_followup.sent
    assert sent["content"] == GENERIC_ERROR and sent["ephemeral"] is True
    assert any(r.exc_info and "kaput" in str(r.exc_info[1]) for r in caplog.records)


async def test_slash_too_long_question_is_refused_privately(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer(), max_question_chars=20)
    inter = FakeInteraction(bot, "ask", question="x" * 50)
    await run_command(bot, inter)
    [(kind, kwargs)] = inter.fake_response.calls
    assert kind == "send_message" and kwargs["ephemeral"] is True
    assert "limit is 20" in kwargs["content"]


async def test_reindex_refuses_user_without_manage_server(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    old = bot.answerer
    inter = FakeInteraction(bot, "reindex", permissions=0)
    await run_command(bot, inter)
    [(kind, kwargs)] = inter.fake_response.calls
    assert (kind, kwargs["content"], kwargs["ephemeral"]) == ("send_message", REINDEX_DENIED, True)
    assert bot.answerer is old


async def test_reindex_allowed_with_manage_server(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    old = bot.answerer
    inter = FakeInteraction(
        bot, "reindex", permissions=discord.Permissions(manage_guild=True).value
    )
    await run_command(bot, inter)
    assert inter.fake_followup.sent[0]["content"].startswith("Reindexed 1 documents")
    assert bot.answerer is not old


async def test_slash_refused_outside_allowed_guild(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer(), guild_ids=[1])
    inter = FakeInteraction(bot, "ask", question="hello?")
    await run_command(bot, inter)
    [(_, kwargs)] = inter.fake_response.calls
    assert kwargs["content"] == "I'm not set up to answer here." and kwargs["ephemeral"] is True


async def test_sources_lists_documents(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    inter = FakeInteraction(bot, "sources", guild=False)
    await run_command(bot, inter)
    [(_, kwargs)] = inter.fake_response.calls
    assert "Music video (video.txt)" in kwargs["content"]


async def test_vote_appends_one_json_line_without_user(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    inter = FakeInteraction(bot, "ask", question="who directed the video?", user_id=31337)
    await run_command(bot, inter)
    view = inter.fake_followup.sent[0]["view"]
    click = FakeInteraction(bot, "vote", user_id=31337)
    await view.helpful.callback(click)
    again = FakeInteraction(bot, "vote", user_id=31337)
    await view.unhelpful.callback(again)
    lines = (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["question"] == "who directed the video?" and record["vote"] == "up"
    assert record["source"] == "video.txt" and "time" in record
    assert "31337" not in lines[0] and "user31337" not in lines[0]
    assert again.fake_response.calls[0][1]["content"] == "You already voted on this answer."


def test_missing_token_is_one_line_error(tmp_path, monkeypatch, capsys, settings):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(discord_bot, "main", lambda *a: pytest.fail("must not start"))
    assert discord_bot.run(settings) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: DISCORD_TOKEN is not set") and err.count("\n") == 1


def test_token_from_dotenv_unless_env_set(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-dotenv\n", encoding="utf-8")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert discord_bot.read_token(tmp_path / ".env") == "from-dotenv"
    monkeypatch.setenv("DISCORD_TOKEN", "from-env")
    assert discord_bot.read_token(tmp_path / ".env") == "from-env"


def test_invalid_token_is_clear_error_and_not_echoed(
    tmp_path, monkeypatch, capsys, caplog, settings
):
    secret = "MTIz.secret-token-value"
    monkeypatch.setenv("DISCORD_TOKEN", secret)

    async def refuse(self, token, **kwargs):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(discord_bot.QuoteBot, "start", refuse)
    assert discord_bot.run(settings) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Discord rejected the token") and secret not in err
    assert all(secret not in r.getMessage() for r in caplog.records)


def test_unreachable_discord_is_one_line_error(monkeypatch, capsys, settings):
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.some-token")

    async def offline(self, token, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(discord_bot.QuoteBot, "start", offline)
    assert discord_bot.run(settings) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach Discord (Name or service not known)")
    assert err.count("\n") == 1


def test_sharded_setting_selects_auto_sharded_bot(settings):
    from dataclasses import replace

    sharded = replace(settings, discord=replace(settings.discord, sharded=True))
    bot = discord_bot.make_bot(sharded, discord_bot.Core(sharded))
    assert isinstance(bot, discord.AutoShardedClient)
    assert not isinstance(
        discord_bot.make_bot(settings, discord_bot.Core(settings)), discord.AutoShardedClient
    )


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"cooldown_seconds": -1}, "discord.cooldown_seconds"),
        ({"channel_ids": ["general"]}, "discord.channel_ids"),
        ({"threads": "yes"}, "discord.threads"),
        ({"dms": 1}, "discord.dms"),
        ({"feedback_file": " "}, "discord.feedback_file"),
        ({"colour": "red"}, "discord.colour"),
    ],
)
def test_bad_discord_setting_names_the_key(tmp_path, table, key):
    from bot.config import settings_from_dict
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        settings_from_dict({"discord": table}, tmp_path)


def test_feedback_file_resolves_against_config_folder(tmp_path):
    from bot.config import settings_from_dict

    s = settings_from_dict({"discord": {"feedback_file": "votes/fb.jsonl"}}, tmp_path)
    assert s.discord.feedback_file == str(tmp_path.resolve() / "votes" / "fb.jsonl")


async def test_fifty_concurrent_questions_through_the_real_core_and_batcher(
    tmp_path, settings, fake_embedder
):
    from bot.answer.compose import Answerer
    from bot.ingest.corpus import load_corpus
    from bot.search.build import build_index

    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    answerer = Answerer(index, fake_embedder, settings.retrieval, settings.answer)
    bot, http, _ = await make_bot(tmp_path, answerer)
    questions = ["Where is Mount Etna?", "Who walked on the lunar surface first?"] * 25
    msgs = [
        guild_message(bot, f"<@{BOT_ID}> {q}", author_id=3000 + i) for i, q in enumerate(questions)
    ]
    await asyncio.gather(*(deliver(bot, m) for m in msgs))
    assert len(http.sent) == 50
    texts = [description(s) for s in http.sent]
    assert sum("Catania" in t or "Etna" in t for t in texts) >= 25
    assert sum("Neil Armstrong" in t for t in texts) >= 25
    # questions that arrived together were embedded together, not one model call each
    assert len(fake_embedder.calls) < 50
    await bot.close()


def test_core_reindex_picks_up_a_new_document(settings, use_fake):
    from bot.discord.client import Core

    core = Core(settings)
    first = core.load()
    (settings.seeds_dir / "tea.txt").write_text("Green tea comes from Camellia sinensis.", "utf-8")
    answerer, summary = core.reindex(first)
    assert summary == "Reindexed 4 documents: embedded 1, reused 3, removed 0."
    assert answerer.ask("Which plant gives green tea?").results[0].source == "tea.txt"


async def test_cooldown_notice_is_sent_once_per_window_then_silence(tmp_path):
    bot, http, clock = await make_bot(tmp_path, FakeAnswerer(), cooldown_seconds=10)
    for _ in range(20):  # a user firing mentions as fast as they can
        await deliver(bot, guild_message(bot, f"<@{BOT_ID}> again?"))
    assert len(http.sent) == 2  # the answer and one notice, not 19 notices
    assert http.sent[0]["embeds"] and "asking quickly" in http.sent[1]["content"]
    clock.now += 10  # a new window: answered, and told once again if they keep going
    for _ in range(5):
        await deliver(bot, guild_message(bot, f"<@{BOT_ID}> again?"))
    assert len(http.sent) == 4
    assert http.sent[2]["embeds"] and "asking quickly" in http.sent[3]["content"]


async def test_undecodable_text_in_a_mention_is_cleaned_and_answered(tmp_path):
    answerer = FakeAnswerer()
    bot, http, _ = await make_bot(tmp_path, answerer)
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> caf\udcc3\udca9 hours\ud800?"))
    assert answerer.questions == ["café hours\ufffd?"]
    assert http.sent and http.sent[0]["embeds"]
