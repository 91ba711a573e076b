"""Pure formatting for Discord: escaping, shortening within limits, answer embeds.

Nothing here talks to Discord; every function returns text or a discord.Embed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import discord
from discord.utils import escape_markdown, escape_mentions

from bot.answer.compose import Answer, Source
from bot.answer.gaps import GapGroup
from bot.config import DISCORD_DECLINE_TEXT, DISCORD_HELP_TEXT, Settings
from bot.ingest.chunking import split_sentences

# Discord's documented limits.
MESSAGE_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
FIELD_NAME_LIMIT = 256
TITLE_LIMIT = 256
FOOTER_LIMIT = 2048
EMBED_LIMIT = 6000
THREAD_NAME_LIMIT = 100
URL_LIMIT = 512  # longer links are left out rather than crowd the quote out of a field

# Further sources are "short fields": a sentence or two, not a wall of text.
FIELD_QUOTE_BUDGET = 400
ELLIPSIS = "…"
COLOUR = discord.Colour.blurple()

# Longest question taken from Discord, whatever answer.max_question_chars allows elsewhere: a
# chat question is a sentence or two, and a long paste would crowd the answer's embed.
QUESTION_LIMIT = 500

DECLINE = DISCORD_DECLINE_TEXT  # the default of discord.decline_text
# /help: discord.help_text, then how to ask (the commands and limits).
HOW_TO_ASK = (
    "• **/ask** `question:` asks a question (only you see any error).\n"
    "• Mention me with a question, e.g. `@{name} who directed the video?`, or reply to one "
    "of my answers to ask a follow-up. In a direct message, just write the question.\n"
    "• On any message, **Apps → Ask quotebot** answers it as a question.\n"
    "• **/sources** lists the documents I quote from.\n"
    "• 👍/👎 under an answer tell the maintainers whether it helped.\n"
    "Questions can be up to {max_chars} characters; please wait {cooldown} between questions."
)
HELP = DISCORD_HELP_TEXT + "\n" + HOW_TO_ASK  # with the default discord.help_text

# escape_markdown leaves URLs alone (escaping inside them breaks links); so do we.
_URL = re.compile(r"<[^: >]+:/[^ >]+>|(?:https?|steam)://[^\s<]+[^<.,:;\"'\]\s]")
# A backslash pair, or a marker character that is not yet escaped.
_LOOSE = re.compile(r"\\[\s\S]|[*_~|`]")
_NUMBERED = re.compile(r"^(\s*\d+)\.(?=\s)", re.MULTILINE)
_SPACE = re.compile(r"\s+")


def _escape_loose(text: str) -> str:
    """Escape marker characters escape_markdown left alone (it escapes only paired ones)."""
    text = _LOOSE.sub(lambda m: m.group() if len(m.group()) == 2 else "\\" + m.group(), text)
    return _NUMBERED.sub(r"\1\\.", text)


def escape(text: str) -> str:
    """Text that renders verbatim in Discord: no markdown, code blocks, masked links or pings."""
    text = escape_markdown(text)  # also doubles backslashes
    out, pos = [], 0
    for m in _URL.finditer(text):
        out += [_escape_loose(text[pos : m.start()]), m.group()]
        pos = m.end()
    out.append(_escape_loose(text[pos:]))
    return escape_mentions("".join(out))


def shorten(text: str, limit: int) -> str:
    """text if it fits in limit characters, else cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - len(ELLIPSIS), 0)]
    space = cut.rfind(" ")
    if space > 0:  # a single word longer than the limit is cut mid-word: nothing else fits
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _longest(raw: str, cuts: list[int], budget: int) -> int:
    """The largest cut in cuts (ascending) whose escaped prefix fits budget, else 0."""
    lo, hi = 0, len(cuts)  # escaped length grows with the prefix, so binary search
    while lo < hi:
        mid = (lo + hi) // 2
        if len(escape(raw[: cuts[mid]])) <= budget:
            lo = mid + 1
        else:
            hi = mid
    return cuts[lo - 1] if lo else 0


def _escaped_prefix(raw: str, budget: int) -> str:
    """The longest escaped prefix of raw, ending at a word boundary, within budget."""
    end = _longest(raw, [m.start() for m in re.finditer(r"\s+", raw)] + [len(raw)], budget)
    if not end:  # not even the first word fits (a pathological token): cut it by characters
        end = _longest(raw, list(range(1, len(raw) + 1)), budget)
    return escape(raw[:end])


def _pieces(text: str) -> list[str]:
    """text cut at sentence starts; the pieces join back to text exactly."""
    cuts = sorted({0, *(s.start for s in split_sentences(text))})
    return [text[a:b] for a, b in zip(cuts, [*cuts[1:], len(text)], strict=True) if b > a]


def _bold(escaped: str) -> str:
    """Wrap escaped text in ** **, keeping edge whitespace outside so Discord renders it."""
    core = escaped.strip()
    if not core:
        return escaped
    lead = escaped[: len(escaped) - len(escaped.lstrip())]
    trail = escaped[len(escaped.rstrip()) :]
    return f"{lead}**{core}**{trail}"


def marked_passage(src: Source, budget: int) -> str:
    """The passage escaped, its quote in bold, shortened at sentence boundaries to fit budget.

    Whole sentences are kept around the quote, alternating after/before, while they fit; an
    ellipsis marks each cut side. The quote itself is never dropped: if it alone is longer than
    budget, its start is kept and it is cut at a word boundary with an ellipsis.
    """
    rel_start, rel_end = src.quote_start - src.start, src.quote_end - src.start
    before, quote, after = (
        src.passage[:rel_start],
        src.passage[rel_start:rel_end],
        src.passage[rel_end:],
    )
    marked = _bold(escape(quote))
    cut_mark = len(ELLIPSIS) + 1
    if len(marked) > budget:
        return _bold(_escaped_prefix(quote, budget - 4 - len(ELLIPSIS))) + ELLIPSIS
    head = [escape(p) for p in _pieces(before)]
    tail = [escape(p) for p in _pieces(after)]
    used = len(marked) + (cut_mark if head else 0) + (cut_mark if tail else 0)
    if used > budget:  # room for the quote but not the cut marks: the quote alone
        return marked
    lo, hi = len(head), 0  # kept: head[lo:] and tail[:hi]
    grew = True
    while grew:
        grew = False
        if hi < len(tail) and used + len(tail[hi]) <= budget:
            used, hi, grew = used + len(tail[hi]), hi + 1, True
        if lo > 0 and used + len(head[lo - 1]) <= budget:
            used, lo, grew = used + len(head[lo - 1]), lo - 1, True
    text = "".join(head[lo:]) + marked + "".join(tail[:hi])
    if lo > 0:
        text = ELLIPSIS + " " + text.lstrip()
    if hi < len(tail):
        text = text.rstrip() + " " + ELLIPSIS
    return text


def where(src: Source) -> str:
    """The citation and score, for a footer (plain text: footers render no markdown)."""
    return f"{src.citation()} · score {src.score:.2f}"


def web_url(src: Source) -> str | None:
    """The source's link when Discord can show it: http(s), a host, no spaces, not too long.
    Discord refuses a whole message whose embed URL it cannot parse, so doubtful ones go."""
    url = src.url
    if not url or len(url) > URL_LIMIT or _SPACE.search(url):
        return None
    return url if re.match(r"https?://[^/?#]+", url) else None


def answer_embed(answer: Answer) -> discord.Embed:
    """The embed for an answered question: the top passage marked, up to two more as fields."""
    top, rest = answer.results[0], answer.results[1:3]
    # The title links to the quote on the web (a text fragment) or its PDF page.
    embed = discord.Embed(
        title=shorten(escape(top.title), TITLE_LIMIT), url=web_url(top), colour=COLOUR
    )
    embed.set_footer(text=shorten(where(top), FOOTER_LIMIT))
    for i, src in enumerate(rest, 2):
        name = shorten(f"{i}. {escape(src.title)}", FIELD_NAME_LIMIT)
        link = f" · [open]({url})" if (url := web_url(src)) else ""
        tag = f"\n{escape(src.citation())} · score {src.score:.2f}{link}"
        quote_budget = min(FIELD_QUOTE_BUDGET, FIELD_LIMIT - len(tag) - 2)
        embed.add_field(name=name, value=_quote_field(src, quote_budget) + tag, inline=False)
    # The description gets whatever the embed's 6,000 total leaves, up to its own limit.
    budget = min(DESCRIPTION_LIMIT, EMBED_LIMIT - len(embed))
    embed.description = marked_passage(top, budget)
    return embed


def _quote_field(src: Source, budget: int) -> str:
    """A further source's answering sentence, escaped and quoted, within budget."""
    body = escape(src.quote)
    if len(body) > budget - 2:
        body = _escaped_prefix(src.quote, budget - 2 - len(ELLIPSIS)) + ELLIPSIS
    return f"“{body}”"


def sources_text(documents: Sequence[tuple[str, str]], limit: int = MESSAGE_LIMIT) -> str:
    """A message listing (title, source) pairs, as many as fit, then how many were left out."""
    if not documents:
        return "No documents are indexed yet. An admin can add files to seeds/ and run /reindex."
    header = f"I quote from {len(documents):,} document{'s' if len(documents) != 1 else ''}:"
    lines = [header]
    used = len(header)
    for n, (title, source) in enumerate(documents):
        line = shorten(f"• {escape(title)} ({escape(source)})", 200)
        more = f"…and {len(documents) - n:,} more."
        if used + 1 + len(line) + 1 + len(more) > limit:
            lines.append(more)
            break
        lines.append(line)
        used += 1 + len(line)
    return "\n".join(lines)


def question_limit(settings: Settings) -> int:
    """The longest question Discord takes: answer.max_question_chars, at most QUESTION_LIMIT."""
    return min(settings.answer.max_question_chars, QUESTION_LIMIT)


def help_text(name: str, max_chars: int, cooldown: float, intro: str = DISCORD_HELP_TEXT) -> str:
    """How to ask, for /help: intro (discord.help_text), then the commands and limits."""
    wait = "a moment" if cooldown <= 0 else f"{cooldown:g} second{'s' if cooldown != 1 else ''}"
    how = HOW_TO_ASK.format(name=escape(name), max_chars=f"{max_chars:,}", cooldown=wait)
    return intro + "\n" + how


def thread_name(question: str) -> str:
    """A thread title from a question: one line, within Discord's 100 characters."""
    return shorten(_SPACE.sub(" ", question).strip() or "Question", THREAD_NAME_LIMIT)


def message_text(text: str) -> str:
    """Plain message content within the 2,000-character limit."""
    return shorten(text, MESSAGE_LIMIT)


def gaps_embed(groups: Sequence[GapGroup], total: int, *, limit: int = 10) -> discord.Embed:
    """/gaps: the largest groups of declined and 👎 questions, each with its examples and the
    passage the sources came closest with (escaped, shortened to fit Discord's limits)."""
    embed = discord.Embed(title="What my sources miss", colour=COLOUR)
    if not groups:
        embed.description = "No declined or 👎 questions logged (yet)."
        return embed
    reserve = 200  # for the description, written once we know how many groups fit
    for i, g in enumerate(groups[:limit], 1):
        votes = f", {g.count - g.declined} 👎" if g.count > g.declined else ""
        plural = "s" if g.count != 1 else ""
        name = shorten(
            f"{i}. {g.count} question{plural} ({g.declined} declined{votes})", FIELD_NAME_LIMIT
        )
        lines = [f"• {escape(shorten(q, 200))}" for q in g.examples]
        if g.closest is not None:
            c = g.closest
            lines.append(
                f"Closest ({g.confidence:.2f}): {_quote_field(c, 400)} "
                f"— {escape(shorten(c.title, 80))} ({escape(c.source)})"
            )
        value = shorten("\n".join(lines), FIELD_LIMIT)
        if len(embed) + len(name) + len(value) > EMBED_LIMIT - reserve:
            break
        embed.add_field(name=name, value=value, inline=False)
    shown = len(embed.fields)
    embed.description = (
        f"{total:,} logged question{'s' if total != 1 else ''} in {len(groups):,} "
        f"group{'s' if len(groups) != 1 else ''}, largest first"
        + (f" (the {shown} largest shown)." if shown < len(groups) else ".")
    )
    return embed
