"""Pure Discord formatting: escaping, shortening around the marked sentence, embed limits."""

from __future__ import annotations

import re

import discord

from bot.answer.compose import Answer
from bot.discord.format import (
    ELLIPSIS,
    answer_embed,
    escape,
    marked_passage,
    sources_text,
)
from tests.discord_fakes import source

FILLER = [
    f"Filler sentence number {i} talks about nothing in particular at all." for i in range(60)
]
QUOTE = "The video was directed by Jane Example in 2019."


def long_source(quote: str = QUOTE):
    passage = " ".join([*FILLER[:30], quote, *FILLER[30:]])
    return source(passage, quote)


def test_escape_neutralises_markdown_code_links_and_mentions():
    text = escape(
        "# Head\n```py\nx = 1\n``` **b** _i_ a*b [x](http://evil.example) "
        "@everyone <@123456789012345678>"
    )
    assert "```" not in text and "\\`\\`\\`" in text
    assert text.startswith("\\# Head")
    assert "\\*\\*b\\*\\*" in text and "\\_i\\_" in text and "a\\*b" in text
    assert "\\[x]" in text  # no masked link
    assert "@everyone" not in text and "<@123456789012345678>" not in text


def test_escape_keeps_urls_clickable_and_backslashes_literal():
    assert escape("see https://x.example/a_b_c now") == "see https://x.example/a_b_c now"
    assert escape("ends with \\") == "ends with \\\\"


def test_short_passage_is_whole_with_quote_bold():
    src = source("One. Two is the answer. Three.", "Two is the answer.")
    assert marked_passage(src, 4096) == "One. **Two is the answer.** Three."


def test_long_passage_shortened_at_sentence_boundaries_around_quote():
    src = long_source()
    text = marked_passage(src, 1000)
    assert len(text) <= 1000
    assert f"**{QUOTE}**" in text
    assert text.startswith(ELLIPSIS + " Filler") and text.endswith(". " + ELLIPSIS)
    body = text.removeprefix(ELLIPSIS + " ").removesuffix(" " + ELLIPSIS).replace("**", "")
    assert body in src.passage  # a contiguous run of whole sentences
    kept = re.findall(r"number (\d+)", body)
    assert "29" in kept and "30" in kept  # both neighbours of the quote kept


def test_pathological_quote_longer_than_budget_keeps_its_start():
    quote = " ".join(f"word{i}" for i in range(1500))  # ~10,000 characters, one "sentence"
    src = source(f"Before. {quote} After.", quote)
    text = marked_passage(src, 4096)
    assert len(text) <= 4096
    assert text.startswith("**word0 word1 ") and text.endswith("**" + ELLIPSIS)
    last = text.removesuffix("**" + ELLIPSIS).split()[-1]
    assert re.fullmatch(r"word\d+", last) and last in quote.split()  # not cut mid-word


def test_embed_within_discord_limits_with_three_long_sources():
    answer = Answer("q", True, [long_source(), long_source(FILLER[3]), long_source(FILLER[4])], 0.9)
    embed = answer_embed(answer)
    assert len(embed) <= 6000 and len(embed.description) <= 4096
    assert len(embed.fields) == 2 and all(
        len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields
    )
    assert f"**{QUOTE}**" in embed.description
    assert isinstance(embed, discord.Embed)


def test_huge_source_text_still_fits():
    quote = "A" * 9000  # a single 9,000-character token
    src = source(f"x. {quote} y.", quote)
    embed = answer_embed(Answer("q", True, [src, src, src], 0.9))
    assert len(embed) <= 6000 and embed.description.startswith("**AAAA")


def test_sources_text_fits_one_message():
    docs = [(f"Title {i} @everyone", f"doc{i}.txt") for i in range(1000)]
    text = sources_text(docs)
    assert len(text) <= 2000 and text.endswith("more.") and "@everyone" not in text
