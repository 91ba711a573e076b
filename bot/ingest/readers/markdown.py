"""Markdown (CommonMark, GFM tables, MyST roles and directives) to the text a reader sees."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from functools import cache
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin

from bot.ingest.readers.base import Extracted, TextBuilder, decode_text

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)\n\1[ \t]*(?:\n|\Z)", re.DOTALL)
_ROLE = re.compile(r"\{[\w.:+-]+\}$")  # MyST: {ref}`text <target>`
_TARGET = re.compile(r"^(.*?)\s*<[^<>]*>$", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile(r"<(script|style|template)\b.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
# MyST directives whose body is prose (parsed as Markdown) or code; the others are dropped.
PROSE_DIRECTIVES = frozenset(
    [
        "note",
        "warning",
        "tip",
        "important",
        "hint",
        "caution",
        "attention",
        "danger",
        "error",
        "seealso",
        "admonition",
        "versionadded",
        "versionchanged",
        "deprecated",
        "topic",
        "sidebar",
        "epigraph",
    ]
)
CODE_DIRECTIVES = frozenset(["code", "code-block", "sourcecode", "code-cell"])
_OPTION = re.compile(r"^:[\w-]+:.*$")


@cache
def _parser() -> MarkdownIt:
    # MyST's ::: fences, (target)= labels and % comments are markup too (myst_block_plugin
    # drops the latter two: its tokens are not text).
    return (
        MarkdownIt("commonmark", {"html": True})
        .enable(["table", "strikethrough"])
        .use(colon_fence_plugin)
        .use(myst_block_plugin)
    )


def front_matter(text: str) -> tuple[dict[str, Any], int]:
    """The YAML (---) or TOML (+++) front matter as a table, and the offset where it ends."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, 0
    try:
        meta = yaml.safe_load(m.group(2)) if m.group(1) == "---" else tomllib.loads(m.group(2))
    except (yaml.YAMLError, tomllib.TOMLDecodeError):
        meta = {}  # not front matter after all; its lines are still not prose to quote
    return (meta if isinstance(meta, dict) else {}), m.end()


def role_text(content: str) -> str:
    """The visible text of a role or cross-reference: "text <target>" shows text, "~a.b" b."""
    if m := _TARGET.match(content):
        if m.group(1).strip():
            return m.group(1).strip()
        content = content[content.rfind("<") + 1 : -1]
    if content.startswith("~"):
        return content[1:].rsplit(".", 1)[-1]
    return content.lstrip("!")


def _inline(out: TextBuilder, children: Sequence[Token]) -> None:
    for i, tok in enumerate(children):
        nxt = children[i + 1] if i + 1 < len(children) else None
        if tok.type == "text":
            content = tok.content
            if nxt is not None and nxt.type == "code_inline" and _ROLE.search(content):
                content = _ROLE.sub("", content)
            out.inline(content)
        elif tok.type == "code_inline":
            prev = children[i - 1] if i else None
            role = prev is not None and prev.type == "text" and _ROLE.search(prev.content)
            out.inline(role_text(tok.content) if role else tok.content)
        elif tok.type == "softbreak":
            out.inline("\n")
        elif tok.type == "hardbreak":
            out.hard_break()
            if out.line is not None:
                out.at_line(out.line + 1)
        elif tok.type == "image":
            out.inline(tok.content)
        # Emphasis, links and inline HTML tags are markup: only their text is shown.


def _cell_text(tok: Token) -> str:
    cell = TextBuilder("md")
    _inline(cell, tok.children or [])
    return "".join(cell._buf).strip()


def _walk(out: TextBuilder, tokens: Sequence[Token], base: int) -> None:
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        line = base + tok.map[0] + 1 if tok.map else None
        if tok.type in ("heading_open", "paragraph_open"):
            out.end_block()
            out.at_line(line)
            _inline(out, tokens[i + 1].children or [])
            heading = tok.type == "heading_open"
            out.end_block("heading" if heading else "para", int(tok.tag[1:]) if heading else 0)
            i += 3
            continue
        if tok.type in ("fence", "code_block", "colon_fence"):
            _code(out, tok, line)
        elif tok.type == "table_open":
            i = _table(out, tokens, i, base)
        elif tok.type == "html_block":
            out.end_block()
            out.at_line(line)
            out.inline(_TAG.sub(" ", _INVISIBLE.sub(" ", tok.content)))
            out.end_block()
        i += 1


def _code(out: TextBuilder, tok: Token, line: int | None) -> None:
    info = tok.info.strip()
    first = None if line is None else line + (1 if tok.type != "code_block" else 0)
    if info.startswith("{") and "}" in info:
        name = info[1 : info.index("}")]
        if name in PROSE_DIRECTIVES:
            body = tok.content.split("\n")
            skip = 0
            while skip < len(body) and _OPTION.match(body[skip]):
                skip += 1
            _walk(out, _parser().parse("\n".join(body[skip:])), (first or 1) - 1 + skip)
            return
        if name not in CODE_DIRECTIVES:
            return  # toctree, include, figure...: not text a reader sees in place
    out.end_block()
    out.at_line(first)
    out.literal(tok.content.rstrip("\n"))
    out.end_block("code")


def _table(out: TextBuilder, tokens: Sequence[Token], i: int, base: int) -> int:
    """Add the table starting at tokens[i] as one row per line; return the table_close index."""
    out.end_block()
    row: list[str] = []
    while tokens[i].type != "table_close":
        tok = tokens[i]
        if tok.type == "tr_open":
            row = []
            if tok.map:
                out.at_line(base + tok.map[0] + 1)
        elif tok.type == "inline":
            row.append(_cell_text(tok))
        elif tok.type == "tr_close":
            out.literal(" | ".join(row))
            out.hard_break()
        i += 1
    out.end_block("table")
    return i


def read_markdown(data: bytes) -> Extracted:
    """A Markdown file: front matter read (title, url), markup reduced to its visible text."""
    text = decode_text(data)
    meta, end = front_matter(text)
    # Front matter is never quoted; blank lines in its place keep the source line numbers.
    body = "\n" * text.count("\n", 0, end) + text[end:]
    out = TextBuilder("md")
    _walk(out, _parser().parse(body), 0)
    title = meta.get("title")
    url = meta.get("url") or meta.get("canonical_url") or meta.get("permalink")
    return out.build(
        title=str(title).strip() if title else None,
        url=str(url).strip() if url else None,
    )
