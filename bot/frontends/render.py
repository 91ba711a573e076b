"""Terminal rendering of answers with rich: the passage quoted, the answering sentence marked."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from bot.answer.compose import Answer, Source
from bot.answer.gaps import GapGroup
from bot.config import DECLINE_TEXT, REPL_DECLINE_TEXT

# The defaults of answer.decline_text and repl.decline_text (only the REPL has :sources).
DECLINE = DECLINE_TEXT
DECLINE_REPL = REPL_DECLINE_TEXT


def line_of(text: str, offset: int) -> int:
    """1-based line number of a character offset."""
    return text.count("\n", 0, offset) + 1


def marked_passage(src: Source, *, colour: bool) -> Text:
    """The passage verbatim, with the quote in bold yellow (or between ** when colour is off)."""
    rel_start, rel_end = src.quote_start - src.start, src.quote_end - src.start
    text = Text()
    text.append(src.passage[:rel_start])
    if colour:
        text.append(src.passage[rel_start:rel_end], style="bold yellow")
    else:
        text.append("**" + src.passage[rel_start:rel_end] + "**")
    text.append(src.passage[rel_end:])
    return text


def where(src: Source, document_text: dict[str, str] | None = None) -> str:
    """The citation: file, page or lines, and section (Source.citation); for a result without
    lines, lines counted in document_text when given, else characters."""
    if src.page is not None or src.line_start is not None:
        return src.citation()
    if document_text and src.source in document_text:
        doc = document_text[src.source]
        first, last = line_of(doc, src.start), line_of(doc, src.end)
        return (
            f"{src.source}, line {first}"
            if first == last
            else f"{src.source}, lines {first}–{last}"
        )
    return f"{src.source}, characters {src.start}–{src.end}"


def render_answer(
    answer: Answer,
    console: Console,
    *,
    document_text: dict[str, str] | None = None,
    decline: str = DECLINE,
) -> None:
    """Print an answer: the top source in full, the others as one-line quotes, or decline."""
    colour = console.color_system is not None
    if not answer.answered:
        console.print(Text(decline, style="italic" if colour else ""))
        return
    top, rest = answer.results[0], answer.results[1:]
    console.print(
        Text.assemble(
            # Terminals that support it make the title a link to the quote (OSC 8).
            (top.title, ("bold cyan" + (f" link {top.url}" if top.url else "")) if colour else ""),
            (f"  ({where(top, document_text)})  score {top.score:.2f}", "dim" if colour else ""),
        )
    )
    console.print(marked_passage(top, colour=colour))
    if rest:
        console.print(Text("Also in the sources:", style="dim" if colour else ""))
    for i, src in enumerate(rest, 2):
        console.print(
            Text.assemble(
                f"{i}. ",
                (src.title, "cyan" if colour else ""),
                (
                    f"  ({where(src, document_text)})  score {src.score:.2f}",
                    "dim" if colour else "",
                ),
                f"\n   “{src.quote}”",
            )
        )


def gaps_text(
    groups: list[GapGroup], total: int, *, document_text: dict[str, str] | None = None
) -> str:
    """The gaps report as plain text: each group's size, example questions, and the passage
    the sources came closest with, quoted verbatim with where it sits."""
    if not groups:
        return "No declined or 👎 questions logged (yet)."
    s = "s" if len(groups) != 1 else ""
    lines = [f"{total} logged question(s) in {len(groups)} group{s}, largest first.", ""]
    for i, g in enumerate(groups, 1):
        votes = f", {g.count - g.declined} 👎" if g.count > g.declined else ""
        lines.append(f"{i}. {g.count} question(s) ({g.declined} declined{votes})")
        lines += [f"   - {q}" for q in g.examples]
        if g.closest is not None:
            c = g.closest
            lines.append(
                f"   Closest passage (confidence {g.confidence:.2f}): {c.title} "
                f"({where(c, document_text)})"
            )
            quote = c.quote.replace("\n", "\n      ")  # verbatim, indented under its heading
            lines.append(f"     “{quote}”")
        lines.append("")
    return "\n".join(lines).rstrip("\n")
