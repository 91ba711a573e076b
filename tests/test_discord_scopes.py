"""[[scopes]] in Discord: a scoped document's marker reaches no one outside the scope, by any
path (mentions, replies, DMs, /ask, the message command, help and forum posts, votes, /sources,
/gaps, the logs); a member with the role, in the right channel, gets the answer. Driven with
the Discord fakes through the real Answerer and Batcher (fake embedder)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import discord
import pytest

from bot.answer.compose import Answerer
from bot.discord.exts.gaps import GAPS_DENIED
from bot.ingest.corpus import load_corpus
from bot.search.build import build_index
from tests.conftest import write_corpus
from tests.discord_fakes import (
    BOT_ID,
    CHANNEL_ID,
    FORUM_ID,
    GUILD_ID,
    FakeInteraction,
    add_channel,
    add_role,
    deliver,
    dispatch,
    dm_message,
    forum_post,
    guild_message,
    make_bot,
    member_payload,
    message_command,
    message_payload,
    run_command,
    user_payload,
)

from .test_scopes import MARKER, STAFF

STAFF_ROLE = 400000000000000001
STAFF_ROOM = 700000000000000009
STAFF_USER = 2002
OUTSIDER = 1001
QUESTION = "What is the vault key for the honey bees colony database?"


def scopes(dm: bool = False) -> list[dict]:
    return [
        {
            "name": "staff",
            "folders": ["staff"],
            "channels": ["staff-room"],
            "roles": ["Staff"],
            "dm": dm,
        }
    ]


async def scoped_bot(tmp_path: Path, fake_embedder, *, dm: bool = False, **discord_settings):
    write_corpus(tmp_path / "seeds")
    write_corpus(tmp_path / "seeds", STAFF)
    from bot.config import settings_from_dict

    top = {"chunking": {"target_tokens": 20}, "scopes": scopes(dm)}
    settings = settings_from_dict(top, tmp_path)
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    answerer = Answerer(
        index, fake_embedder, settings.retrieval, settings.answer, scopes=settings.scopes
    )
    bot, http, _ = await make_bot(
        tmp_path, answerer, top=top, cooldown_seconds=0, **discord_settings
    )
    add_role(bot, GUILD_ID, "@everyone", discord.Permissions(view_channel=True).value)
    add_role(bot, STAFF_ROLE, "Staff")
    staff_room = add_channel(bot, STAFF_ROOM, "staff-room")
    # Only Staff can see the staff room.
    staff_room._overwrites = [
        discord.abc._Overwrites(
            {"id": str(GUILD_ID), "type": 0, "allow": "0", "deny": str(1 << 10)}  # type: ignore[typeddict-item]
        ),
        discord.abc._Overwrites(
            {"id": str(STAFF_ROLE), "type": 0, "allow": str(1 << 10), "deny": "0"}  # type: ignore[typeddict-item]
        ),
    ]
    await bot.on_ready()  # what the gateway's READY does: resolve the scopes
    assert bot.failure is None
    return bot, http


def member_message(bot, content, *, user_id, roles=(), channel_id=CHANNEL_ID, mention=True):
    return guild_message(
        bot,
        content,
        author_id=user_id,
        channel_id=channel_id,
        mention_bot=mention,
        member=member_payload(user_id, roles),
    )


def everything(http, interactions, tmp_path, caplog) -> str:
    """Every byte the bot sent or wrote: messages, embeds, interaction replies, logs, files."""
    parts = [json.dumps(http.sent, default=str)]
    for inter in interactions:
        for _, kwargs in inter.fake_response.calls:
            parts.append(repr(kwargs))
            if kwargs.get("embed") is not None:
                parts.append(json.dumps(kwargs["embed"].to_dict()))
        for sent in inter.fake_followup.sent:
            parts.append(repr(sent))
            if sent.get("embed") is not None:
                parts.append(json.dumps(sent["embed"].to_dict()))
    parts.append(caplog.text)
    for name in ("gaps.jsonl", "feedback.jsonl"):
        if (tmp_path / name).exists():
            parts.append((tmp_path / name).read_text(encoding="utf-8"))
    return "\n".join(parts)


async def test_the_marker_never_reaches_an_outsider_by_any_path(tmp_path, fake_embedder, caplog):
    caplog.set_level(logging.DEBUG)
    bot, http = await scoped_bot(
        tmp_path,
        fake_embedder,
        help_channels=[{"id": FORUM_ID, "min_confidence": 0.01}],
        message_command_public=True,
    )
    interactions = []
    # a mention in a public channel, by an outsider and by a staff member (wrong channel)
    await deliver(bot, member_message(bot, QUESTION, user_id=OUTSIDER))
    await deliver(bot, member_message(bot, QUESTION, user_id=STAFF_USER, roles=(STAFF_ROLE,)))
    # an outsider in the staff room (right channel, no role)
    await deliver(bot, member_message(bot, QUESTION, user_id=OUTSIDER, channel_id=STAFF_ROOM))
    # a reply to one of the bot's answers
    answer = message_payload(CHANNEL_ID, user_payload(BOT_ID, "quotebot", bot=True), "an answer")
    reply = guild_message(
        bot,
        QUESTION,
        author_id=OUTSIDER,
        mention_bot=False,
        type=19,
        message_reference={"message_id": answer["id"], "channel_id": str(CHANNEL_ID)},
        referenced_message={**answer, "guild_id": str(GUILD_ID)},
        member=member_payload(OUTSIDER),
    )
    await deliver(bot, reply)
    # a DM (the scope is not readable in DMs), from the staff member too
    await deliver(bot, dm_message(bot, QUESTION, author_id=OUTSIDER))
    await deliver(bot, dm_message(bot, QUESTION, author_id=STAFF_USER))
    # /ask, and the message command on a message, in the public channel, by staff
    ask = FakeInteraction(bot, "ask", user_id=STAFF_USER, roles=(STAFF_ROLE,), question=QUESTION)
    target = message_payload(CHANNEL_ID, user_payload(OUTSIDER), QUESTION)
    menu = message_command(bot, "Ask quotebot", target, user_id=OUTSIDER)
    # /sources in the public channel
    sources = FakeInteraction(bot, "sources", user_id=STAFF_USER, roles=(STAFF_ROLE,))
    for inter in (ask, menu, sources):
        await run_command(bot, inter)
        interactions.append(inter)
    # a forum post in a help channel
    await deliver(bot, forum_post(bot, "vault key", QUESTION, author_id=OUTSIDER))
    # a 👎 on the outsider's /ask answer
    view = ask.fake_followup.sent[0]["view"]
    vote = FakeInteraction(bot, "vote", user_id=OUTSIDER)
    await view.unhelpful.callback(vote)
    interactions.append(vote)
    # /gaps by a manager in the public channel
    gaps = FakeInteraction(
        bot, "gaps", user_id=OUTSIDER, permissions=discord.Permissions(manage_guild=True).value
    )
    await run_command(bot, gaps)
    interactions.append(gaps)

    assert len(http.sent) >= 6  # every message path (mentions, reply, DMs) answered or declined
    assert len(http.sent) > 6 or "Help post in" in caplog.text  # the forum post was weighed
    text = everything(http, interactions, tmp_path, caplog)
    assert MARKER not in text
    assert "runbook" not in text and "Rotating the vault key" not in text  # file name, title
    assert str(OUTSIDER) not in (tmp_path / "gaps.jsonl").read_text(encoding="utf-8")
    await bot.close()


async def test_a_member_with_the_role_in_the_right_channel_gets_the_answer(tmp_path, fake_embedder):
    bot, http = await scoped_bot(tmp_path, fake_embedder)
    await deliver(
        bot,
        member_message(
            bot, QUESTION, user_id=STAFF_USER, roles=(STAFF_ROLE,), channel_id=STAFF_ROOM
        ),
    )
    assert MARKER in json.dumps(http.sent)
    ask = FakeInteraction(
        bot,
        "ask",
        user_id=STAFF_USER,
        roles=(STAFF_ROLE,),
        channel_id=STAFF_ROOM,
        question=QUESTION,
    )
    await run_command(bot, ask)
    assert MARKER in json.dumps(ask.fake_followup.sent[0]["embed"].to_dict())
    sources = FakeInteraction(
        bot, "sources", user_id=STAFF_USER, roles=(STAFF_ROLE,), channel_id=STAFF_ROOM
    )
    await run_command(bot, sources)
    assert "staff/runbook.md" in sources.fake_response.calls[0][1]["content"]
    await bot.close()


async def test_a_scope_readable_in_dms_answers_members_with_the_role_there(tmp_path, fake_embedder):
    bot, http = await scoped_bot(tmp_path, fake_embedder, dm=True)
    guild = bot.get_guild(GUILD_ID)
    staff = discord.Member(
        data={  # type: ignore[typeddict-item]
            "user": user_payload(STAFF_USER),
            "roles": [str(STAFF_ROLE)],
            "joined_at": None,
            "flags": 0,
        },
        guild=guild,
        state=bot._connection,
    )
    guild._add_member(staff)
    await deliver(bot, dm_message(bot, QUESTION, author_id=OUTSIDER))
    assert MARKER not in json.dumps(http.sent)
    await deliver(bot, dm_message(bot, QUESTION, author_id=STAFF_USER))
    assert MARKER in json.dumps(http.sent[-1])
    await bot.close()


async def test_a_renamed_role_is_denied_until_resolved_again(tmp_path, fake_embedder):
    bot, http = await scoped_bot(tmp_path, fake_embedder)
    role = bot.get_guild(GUILD_ID).get_role(STAFF_ROLE)
    role.name = "Former staff"
    await dispatch(bot, "guild_role_update", role, role)
    msg = member_message(
        bot, QUESTION, user_id=STAFF_USER, roles=(STAFF_ROLE,), channel_id=STAFF_ROOM
    )
    await deliver(bot, msg)
    assert MARKER not in json.dumps(http.sent)
    role.name = "Staff"
    await dispatch(bot, "guild_role_update", role, role)
    await deliver(bot, msg)
    assert MARKER in json.dumps(http.sent[-1])
    await bot.close()


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"roles": ["Stafff"]}, "scope 'staff': no role 'Stafff' in the bot's servers"),
        ({"channels": ["staff-rooom"]}, "scope 'staff': no channel 'staff-rooom'"),
        ({"categories": [123]}, "scope 'staff': no category 123"),
    ],
)
async def test_a_name_that_matches_nothing_stops_the_bot_at_start(
    tmp_path, fake_embedder, rule, message
):
    write_corpus(tmp_path / "seeds", STAFF)
    top = {"scopes": [{"name": "staff", "folders": ["staff"], **rule}]}
    from bot.config import settings_from_dict

    settings = settings_from_dict(top, tmp_path)
    docs, _ = load_corpus(settings.seeds_dir)
    index, _ = build_index(docs, fake_embedder, settings.chunking)
    answerer = Answerer(index, fake_embedder, settings.retrieval, settings.answer)
    bot, _, _ = await make_bot(tmp_path, answerer, top=top)
    add_role(bot, STAFF_ROLE, "Staff")
    add_channel(bot, STAFF_ROOM, "staff-room")
    await bot.on_ready()
    assert bot.failure is not None and message in bot.failure
    assert bot.failure.count("\n") == 0
    await bot.close()


async def test_gaps_shows_only_questions_from_places_the_caller_can_read(tmp_path, fake_embedder):
    bot, _ = await scoped_bot(tmp_path, fake_embedder)
    staff_question = "Where do interns park their bicycles overnight?"
    public_question = "Why do volcano bees sing at night?"
    await deliver(
        bot,
        member_message(
            bot, staff_question, user_id=STAFF_USER, roles=(STAFF_ROLE,), channel_id=STAFF_ROOM
        ),
    )
    await deliver(bot, member_message(bot, public_question, user_id=OUTSIDER))
    lines = [json.loads(x) for x in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    by_question = {row["question"]: row for row in lines}
    assert by_question[public_question]["scopes"] == []
    manage = discord.Permissions(manage_guild=True).value
    gaps = FakeInteraction(bot, "gaps", user_id=OUTSIDER, permissions=manage)
    await run_command(bot, gaps)
    shown = json.dumps(gaps.fake_followup.sent[0]["embed"].to_dict())
    # logged as asked in the staff room, with the scope readable there
    assert by_question[staff_question]["scopes"] == ["staff"]
    assert by_question[staff_question]["channel"] == STAFF_ROOM
    assert staff_question not in shown
    assert public_question in shown
    # A staff manager sees both (the staff room is a place they can read, with its scope).
    gaps = FakeInteraction(
        bot,
        "gaps",
        user_id=STAFF_USER,
        roles=(STAFF_ROLE,),
        permissions=manage,
        channel_id=STAFF_ROOM,
    )
    await run_command(bot, gaps)
    shown = json.dumps(gaps.fake_followup.sent[0]["embed"].to_dict())
    assert public_question in shown
    assert staff_question in shown
    await bot.close()


async def test_a_gaps_role_may_use_gaps_without_manage_server(tmp_path, fake_embedder):
    bot, _ = await scoped_bot(tmp_path, fake_embedder, gaps_roles=["Staff"])
    await deliver(bot, member_message(bot, "Why do volcano bees sing at night?", user_id=OUTSIDER))
    staff = FakeInteraction(bot, "gaps", user_id=STAFF_USER, roles=(STAFF_ROLE,))
    await run_command(bot, staff)
    assert "volcano bees" in json.dumps(staff.fake_followup.sent[0]["embed"].to_dict())
    outsider = FakeInteraction(bot, "gaps", user_id=OUTSIDER)
    await run_command(bot, outsider)
    [(kind, kwargs)] = outsider.fake_response.calls
    assert (kind, kwargs["content"]) == ("send_message", GAPS_DENIED)
    await bot.close()
