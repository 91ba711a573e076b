"""Follow-ups in Discord: in a DM, a thread the bot started and a forum post it answered, a
follow-up is read with the conversation's question; elsewhere each message stands alone."""

from __future__ import annotations

import json

import discord

from bot.answer.compose import Answerer
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index
from tests.discord_fakes import (
    BOT_ID,
    FORUM_ID,
    GUILD_ID,
    deliver,
    dm_message,
    forum_post,
    guild_message,
    make_bot,
    message_payload,
    thread_payload,
    user_payload,
)

from .test_followup import FIRST

FOLLOW = "And in what year?"


async def real_bot(tmp_path, settings, fake_embedder, **discord_settings):
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    answerer = Answerer(index, fake_embedder, settings.retrieval, settings.answer)
    return await make_bot(tmp_path, answerer, cooldown_seconds=0, **discord_settings)


def shown(payload) -> str:
    return json.dumps(payload, ensure_ascii=False)


async def test_a_dm_follow_up_is_read_with_the_question_before_it(
    tmp_path, settings, fake_embedder
):
    bot, http, _ = await real_bot(tmp_path, settings, fake_embedder)
    await deliver(bot, dm_message(bot, FOLLOW, author_id=7))  # nothing before it: alone
    assert "1969" not in shown(http.sent[-1])
    first = dm_message(bot, FIRST, author_id=7)
    channel = first.channel
    await deliver(bot, first)
    follow = dm_message(bot, FOLLOW, author_id=7)
    follow.channel = channel  # the same DM channel
    await deliver(bot, follow)
    answer = shown(http.sent[-1])
    assert "1969" in answer
    assert FIRST not in answer  # the context is never shown as the question or quoted
    await bot.close()


async def test_a_thread_the_bot_started_is_a_conversation(tmp_path, settings, fake_embedder):
    bot, http, _ = await real_bot(tmp_path, settings, fake_embedder, threads=True)
    await deliver(bot, guild_message(bot, FIRST))
    [thread] = http.threads
    guild = bot.get_guild(GUILD_ID)
    thread_channel = discord.Thread(  # the thread as the gateway then announces it
        guild=guild,
        state=bot._connection,
        data=thread_payload(thread["id"], thread["name"], thread["parent"], BOT_ID),  # type: ignore[arg-type]
    )
    guild._add_thread(thread_channel)
    data = message_payload(
        thread["id"], user_payload(1001), FOLLOW, guild_id=str(GUILD_ID)
    )  # no mention: the bot's own thread is a conversation with it
    await deliver(bot, discord.Message(state=bot._connection, channel=thread_channel, data=data))
    assert http.sent[-1]["channel_id"] == thread["id"]
    assert "1969" in shown(http.sent[-1])
    # In the channel itself, the same follow-up stands alone.
    await deliver(bot, guild_message(bot, FOLLOW))
    assert "1969" not in shown(http.sent[-1])
    await bot.close()


async def test_a_forum_post_it_answered_gives_mentioned_follow_ups_their_context(
    tmp_path, settings, fake_embedder
):
    bot, http, _ = await real_bot(
        tmp_path, settings, fake_embedder, help_channels=[{"id": FORUM_ID, "min_confidence": 0.01}]
    )
    post = forum_post(bot, "Moon landing", FIRST)
    await deliver(bot, post)
    assert len(http.sent) == 1  # answered
    follow = guild_message(bot, FOLLOW, channel_id=post.channel.id)
    await deliver(bot, follow)
    assert "1969" in shown(http.sent[-1])
    await bot.close()
