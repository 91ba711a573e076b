"""Help and forum channels, the "Ask quotebot" message command, /gaps, the gaps log and
sharding, driven offline with the Discord fakes."""

from __future__ import annotations

import json

import discord
import pytest

from bot.answer.compose import Answerer
from bot.discord import client as discord_bot
from bot.discord.exts.gaps import GAPS_DENIED
from bot.discord.exts.message_command import MENU_NAME, NO_TEXT
from bot.discord.format import DECLINE
from bot.errors import ConfigError
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index
from tests.discord_fakes import (
    BOT_ID,
    CHANNEL_ID,
    FAKE_CONFIDENCE,
    FORUM_ID,
    FakeAnswerer,
    FakeInteraction,
    deliver,
    forum_post,
    guild_message,
    make_bot,
    message_command,
    message_payload,
    run_command,
    user_payload,
)

from .test_gaps import BEES, ETNA, write_log


async def test_new_forum_thread_is_answered_without_a_mention(tmp_path):
    answerer = FakeAnswerer()
    bot, http, _ = await make_bot(
        tmp_path, answerer, help_channels=[{"id": FORUM_ID}], help_min_confidence=0.5
    )
    post = forum_post(bot, "Who directed the video?", "I looked everywhere.")
    await deliver(bot, post)
    [sent] = http.sent  # once: the Ask cog leaves help posts to the help cog
    assert sent["channel_id"] == post.channel.id  # in the post's own thread
    assert sent["message_reference"]["message_id"] == post.id
    assert (
        "**The answer to Who directed the video? I looked everywhere. is here.**"
        in (sent["embeds"][0]["description"])
    )
    assert sent["allowed_mentions"]["parse"] == []
    assert answerer.questions == ["Who directed the video? I looked everywhere."]


async def test_low_confidence_forum_thread_is_skipped_silently(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path,
        FakeAnswerer(),  # answered at the normal bar, but only FAKE_CONFIDENCE sure
        help_channels=[{"id": FORUM_ID}],
        help_min_confidence=FAKE_CONFIDENCE + 0.1,
    )
    await deliver(bot, forum_post(bot, "Who directed the video?", "Anyone?"))
    assert http.sent == [] and http.typing == [] and http.threads == []


async def test_channel_bar_overrides_the_global_one(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path,
        FakeAnswerer(),
        help_channels=[{"id": FORUM_ID, "min_confidence": FAKE_CONFIDENCE - 0.1}],
        help_min_confidence=FAKE_CONFIDENCE + 0.1,
    )
    await deliver(bot, forum_post(bot, "Who directed the video?", ""))
    assert len(http.sent) == 1


async def test_declined_help_post_is_silent_but_logged_as_a_gap(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path, FakeAnswerer(answered=False), help_channels=[{"id": FORUM_ID}]
    )
    await deliver(bot, forum_post(bot, "Is there a vinyl edition?", "", author_id=4242))
    assert http.sent == []
    [line] = (tmp_path / "gaps.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["question"] == "Is there a vinyl edition?" and record["kind"] == "declined"
    assert "4242" not in line


async def test_mentioned_help_post_gets_an_answer_or_the_decline(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path, FakeAnswerer(answered=False), help_channels=[{"id": FORUM_ID}]
    )
    await deliver(bot, forum_post(bot, "Vinyl?", f"<@{BOT_ID}> is there one?", mention_bot=True))
    [sent] = http.sent
    assert sent["content"] == DECLINE


async def test_follow_ups_in_a_forum_thread_are_not_new_posts(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path, FakeAnswerer(), help_channels=[{"id": FORUM_ID}], help_min_confidence=0.5
    )
    post = forum_post(bot, "Who directed the video?", "")
    follow_up = discord.Message(
        state=bot._connection,
        channel=post.channel,
        data=message_payload(
            post.channel.id, user_payload(1002, "bob"), "me too", guild_id=str(post.guild.id)
        ),
    )
    await deliver(bot, follow_up)
    assert http.sent == []


async def test_text_help_channel_answers_new_posts_in_a_thread(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path, FakeAnswerer(), help_channels=[{"id": CHANNEL_ID}], help_min_confidence=0.5
    )
    await deliver(bot, guild_message(bot, "who directed the video?", mention_bot=False))
    [thread] = http.threads
    [sent] = http.sent
    assert thread["name"] == "who directed the video?" and sent["channel_id"] == thread["id"]


async def test_text_help_channel_without_threads_replies_in_place(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path,
        FakeAnswerer(),
        help_channels=[{"id": CHANNEL_ID, "threads": False}],
        help_min_confidence=0.5,
    )
    msg = guild_message(bot, "who directed the video?", mention_bot=False)
    await deliver(bot, msg)
    [sent] = http.sent
    assert http.threads == [] and sent["message_reference"]["message_id"] == msg.id


async def test_help_channel_with_mention_required_ignores_unmentioned_posts(tmp_path):
    bot, http, _ = await make_bot(
        tmp_path,
        FakeAnswerer(),
        help_channels=[{"id": CHANNEL_ID, "require_mention": True, "threads": False}],
        help_min_confidence=0.5,
    )
    await deliver(bot, guild_message(bot, "who directed the video?", mention_bot=False))
    assert http.sent == []
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> who directed the video?"))
    assert len(http.sent) == 1


async def test_message_command_answers_privately(tmp_path):
    answerer = FakeAnswerer()
    bot, _, _ = await make_bot(tmp_path, answerer)
    target = message_payload(CHANNEL_ID, user_payload(1002, "bob"), "who directed the video?")
    inter = message_command(bot, MENU_NAME, target, user_id=1001)
    await run_command(bot, inter)
    assert inter.fake_response.calls == [("defer", {"ephemeral": True, "thinking": True})]
    [sent] = inter.fake_followup.sent
    assert sent["ephemeral"] is True
    assert "**The answer to who directed the video? is here.**" in sent["embed"].description
    assert answerer.questions == ["who directed the video?"]


async def test_message_command_can_be_public(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer(), message_command_public=True)
    target = message_payload(CHANNEL_ID, user_payload(1002, "bob"), "who directed the video?")
    inter = message_command(bot, MENU_NAME, target)
    await run_command(bot, inter)
    assert inter.fake_followup.sent[0]["ephemeral"] is False


async def test_message_command_on_a_message_without_text(tmp_path):
    answerer = FakeAnswerer()
    bot, _, _ = await make_bot(tmp_path, answerer)
    target = message_payload(CHANNEL_ID, user_payload(1002, "bob"), "")
    inter = message_command(bot, MENU_NAME, target)
    await run_command(bot, inter)
    [(kind, kwargs)] = inter.fake_response.calls
    assert (kind, kwargs["content"], kwargs["ephemeral"]) == ("send_message", NO_TEXT, True)
    assert answerer.questions == []


async def test_downvote_goes_to_the_gaps_log(tmp_path):
    bot, _, _ = await make_bot(tmp_path, FakeAnswerer())
    inter = FakeInteraction(bot, "ask", question="who directed the video?", user_id=31337)
    await run_command(bot, inter)
    view = inter.fake_followup.sent[0]["view"]
    await view.unhelpful.callback(FakeInteraction(bot, "vote", user_id=31337))
    [line] = (tmp_path / "gaps.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert (record["question"], record["kind"], record["source"]) == (
        "who directed the video?",
        "downvote",
        "video.txt",
    )
    assert "31337" not in line


async def gaps_bot(tmp_path, settings, fake_embedder):
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    answerer = Answerer(index, fake_embedder, settings.retrieval, settings.answer)
    bot, _, _ = await make_bot(tmp_path, answerer)
    return bot


async def test_gaps_command_refuses_members_without_manage_server(
    tmp_path, settings, fake_embedder
):
    bot = await gaps_bot(tmp_path, settings, fake_embedder)
    inter = FakeInteraction(bot, "gaps", permissions=0)
    await run_command(bot, inter)
    [(kind, kwargs)] = inter.fake_response.calls
    assert (kind, kwargs["content"], kwargs["ephemeral"]) == ("send_message", GAPS_DENIED, True)


async def test_gaps_command_shows_groups_to_managers(tmp_path, settings, fake_embedder):
    bot = await gaps_bot(tmp_path, settings, fake_embedder)
    write_log(tmp_path / "gaps.jsonl", [*ETNA, *BEES])
    inter = FakeInteraction(bot, "gaps", permissions=discord.Permissions(manage_guild=True).value)
    await run_command(bot, inter)
    [sent] = inter.fake_followup.sent
    embed = sent["embed"]
    assert sent["ephemeral"] is True
    assert embed.description.startswith("6 logged questions in 2 groups, largest first")
    assert [f.name for f in embed.fields] == [
        "1. 4 questions (4 declined)",
        "2. 2 questions (2 declined)",
    ]
    assert "How do honey bees make wax?" in embed.fields[0].value
    assert "(bees.md)" in embed.fields[0].value and "(nested/volcano.txt)" in embed.fields[1].value
    assert len(embed) <= 6000
    await bot.close()


def test_shard_ids_run_a_share_of_the_shards(settings):
    from dataclasses import replace

    share = replace(settings, discord=replace(settings.discord, shard_count=4, shard_ids=(1, 3)))
    bot = discord_bot.make_bot(share, discord_bot.Core(share))
    assert isinstance(bot, discord.AutoShardedClient)
    assert (bot.shard_count, bot.shard_ids) == (4, [1, 3])
    assert bot.sync_commands is False  # only the process running shard 0 syncs commands
    first = replace(settings, discord=replace(settings.discord, shard_count=4, shard_ids=(0, 2)))
    assert discord_bot.make_bot(first, discord_bot.Core(first)).sync_commands is True


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"shard_ids": [0]}, "discord.shard_ids needs discord.shard_count"),
        ({"shard_count": 2, "shard_ids": [0, 2]}, r"discord.shard_ids must be between 0 and"),
        ({"shard_count": 2, "shard_ids": [1, 1]}, "discord.shard_ids lists a shard twice"),
        ({"help_channels": [{"threads": False}]}, r"discord.help_channels\[0\].id is missing"),
        ({"help_channels": [{"id": 5, "mention": True}]}, r"help_channels\[0\].mention"),
        ({"help_channels": [{"id": 5, "min_confidence": -1}]}, r"help_channels\[0\].min_conf"),
        ({"help_channels": [{"id": 5}, {"id": 5}]}, "lists a channel id twice"),
        ({"help_channels": 5}, "discord.help_channels must be a list of tables"),
        ({"help_min_confidence": "high"}, "discord.help_min_confidence"),
        ({"gaps_file": ""}, "discord.gaps_file"),
    ],
)
def test_bad_community_setting_names_the_key(tmp_path, table, message):
    from bot.config import settings_from_dict

    with pytest.raises(ConfigError, match=message):
        settings_from_dict({"discord": table}, tmp_path)


def test_discord_command_shard_flags_are_validated(tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.chdir(tmp_path)  # no config.toml: defaults
    seen = []
    monkeypatch.setattr(discord_bot, "run", lambda s: seen.append(s.discord) or 0)
    assert main(["discord", "--shard-count", "4", "--shard-ids", "0", "2"]) == 0
    assert (seen[0].shard_count, seen[0].shard_ids) == (4, (0, 2))
    assert main(["discord", "--shard-count", "2", "--shard-ids", "2"]) == 1
    assert "discord.shard_ids must be between 0 and shard_count - 1" in capsys.readouterr().err


def test_gaps_embed_stays_within_discord_limits():
    from bot.answer.gaps import GapGroup
    from bot.discord.format import gaps_embed
    from tests.discord_fakes import source

    long = " ".join(["A long sentence about **nothing** in particular, @everyone."] * 30)
    group = GapGroup(
        count=3, examples=["q " * 150] * 3, declined=2, closest=source(long, long), confidence=1.1
    )
    embed = gaps_embed([group] * 40, 120)
    assert len(embed) <= 6000 and len(embed.fields) <= 10
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    assert embed.fields[0].name == "1. 3 questions (2 declined, 1 👎)"
    assert "@everyone" not in embed.fields[0].value and "\\*\\*nothing" in embed.fields[0].value
    assert 0 < len(embed.fields) < 10  # long fields: fewer fit, and the description says so
    assert f"(the {len(embed.fields)} largest shown)" in embed.description
    short = GapGroup(count=1, examples=["q?"], declined=1, closest=None, confidence=0.0)
    assert len(gaps_embed([short] * 40, 40).fields) == 10


async def test_unwritable_gaps_log_costs_no_answer(tmp_path, caplog):
    (tmp_path / "blocked").write_text("a file, not a folder", encoding="utf-8")
    bot, http, _ = await make_bot(
        tmp_path, FakeAnswerer(answered=False), gaps_file=str(tmp_path / "blocked" / "gaps.jsonl")
    )
    await deliver(bot, guild_message(bot, f"<@{BOT_ID}> vinyl?"))
    [sent] = http.sent
    assert sent["content"] == DECLINE
    assert any("Could not write to the gaps log" in r.getMessage() for r in caplog.records)
