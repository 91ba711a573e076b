"""Markdown (CommonMark, GFM tables, MyST roles and directives) to the text a reader sees."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from contextvars import ContextVar
from functools import cache
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.colon_fence import colon_fence_plugin
from mdit_py_plugins.myst_blocks import myst_block_plugin

from bot.ingest.readers.base import Extracted, TextBuilder, decode_text
from bot.ingest.readers.directives import (
    NO_ARGUMENT,
    close_section,
    console_like,
    field,
    kind,
    label_level,
    reads_as_prose,
    role_text,
    signature,
    version_lead,
)
from bot.ingest.readers.html import html_block

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)\n\1[ \t]*(?:\n|\Z)", re.DOTALL)
_ROLE = re.compile(r"\{[\w.:+-]+\}$")  # MyST: {ref}`text <target>`
_SAMP_MARKUP = re.compile(r"\\([\\{}])|[{}]")  # {file}, {samp}: escapes \\ \{ \}, {variable}
_DIRECTIVE = re.compile(r"^\{([\w.:+-]+)\}\s*(.*)$", re.DOTALL)  # MyST: ```{name} argument
# A container's name and title: "tip Where it lives", "caution[Shared machines]", "details".
_CONTAINER = re.compile(r"^([\w.:-]+)(?:\[(.*)\]|\s+(.*))?$", re.DOTALL)
# An attribute block (Pandoc, Hugo, kramdown, Python-Markdown's attr_list, markdown-it-attrs):
# "## Setup {#setup}", "{.unnumbered}", "{-}", a paragraph's "{: .subtitle }" line, a link's
# "{ .md-button }", an image's "{ width="300" }": an anchor or a style, not a word a reader sees.
_ATTRIBUTES = r"\{:?(?:\s*(?:#[\w:.-]+|\.[\w-]+|[\w-]+=(?:\"[^\"]*\"|[^\s}]+)|-))+\s*\}"
_HEADING_ATTRIBUTES = re.compile(rf"\s*{_ATTRIBUTES}\s*$")
_LINE_ATTRIBUTES = re.compile(rf"^\s*{_ATTRIBUTES}\s*$")  # a line of its own: the block's
_TRAILING_ATTRIBUTES = re.compile(r"\s*" + _ATTRIBUTES.replace(":?", ":", 1) + r"\s*$")  # {: …}
_SPAN_ATTRIBUTES = re.compile(rf"^{_ATTRIBUTES}")  # right after a link or an image: theirs
_OPTION = re.compile(r"^\s*:[\w-]+:(?:\s|$)")  # a directive's option line, :key: value


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


# The link reference definitions of the document being read ([text][label] ... [label]: url):
# a directive's or an admonition's body is parsed on its own, and its links are defined at
# the document's end.
_REFERENCES: ContextVar[dict[str, Any] | None] = ContextVar("references", default=None)


def _env() -> dict[str, Any]:
    """A parse's environment holding the document's link definitions (a copy: a parse adds
    its own)."""
    return {"references": dict(_REFERENCES.get() or {})}


def _parse(text: str) -> list[Token]:
    """Markdown within the document being read (a directive's body), its links resolved."""
    return _parser().parse(text, _env())


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


def _inline(out: TextBuilder, children: Sequence[Token]) -> None:
    for i, tok in enumerate(children):
        nxt = children[i + 1] if i + 1 < len(children) else None
        if tok.type == "text":
            content = tok.content
            if i and children[i - 1].type in ("link_close", "image"):
                content = _SPAN_ATTRIBUTES.sub("", content)
            if nxt is not None and nxt.type == "code_inline" and _ROLE.search(content):
                content = _ROLE.sub("", content)
            out.inline(content)
        elif tok.type == "code_inline":
            prev = children[i - 1] if i else None
            role = _ROLE.search(prev.content) if prev is not None and prev.type == "text" else None
            if role and role.group() in ("{file}", "{samp}"):
                # Sphinx shows C:\\pip as C:\pip and {name} as name (emphasised) in these.
                out.inline(_SAMP_MARKUP.sub(lambda m: m.group(1) or "", tok.content))
            else:
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


def _without_attributes(children: Sequence[Token], heading: bool) -> Sequence[Token]:
    """A heading's or a paragraph's inline tokens without the attribute block that ends it:
    any at a heading's end; in a paragraph, a line of its own or a kramdown {: …} block."""
    if not children or children[-1].type != "text":
        return children
    last = children[-1]
    if heading:
        return [*children[:-1], last.copy(content=_HEADING_ATTRIBUTES.sub("", last.content))]
    if _LINE_ATTRIBUTES.match(last.content) and (
        len(children) == 1 or children[-2].type in ("softbreak", "hardbreak")
    ):
        return children[:-2]
    return [*children[:-1], last.copy(content=_TRAILING_ATTRIBUTES.sub("", last.content))]


def _walk(out: TextBuilder, tokens: Sequence[Token], base: int) -> None:
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        line = base + tok.map[0] + 1 if tok.map else None
        if tok.type in ("heading_open", "paragraph_open"):
            out.end_block()
            out.at_line(line)
            heading = tok.type == "heading_open"
            _inline(out, _without_attributes(tokens[i + 1].children or [], heading))
            out.end_block("heading" if heading else "para", int(tok.tag[1:]) if heading else 0)
            i += 3
            continue
        if tok.type in ("fence", "code_block", "colon_fence"):
            _code(out, tok, line)
        elif tok.type == "table_open":
            i = _table(out, tokens, i, base)
        elif tok.type == "html_block" and line is not None:
            html_block(out, tok.content, line)
        i += 1


def _code(out: TextBuilder, tok: Token, line: int | None) -> None:
    line = line or 1
    first = line + (1 if tok.type != "code_block" else 0)  # the line of the body's first line
    if m := _DIRECTIVE.match(tok.info.strip()):
        _directive(out, m.group(1), m.group(2).strip(), tok.content, line, first)
    elif tok.type == "colon_fence":
        _container(out, tok.info.strip(), tok.content, line, first)
    else:
        _literal(out, tok.content, first)


def _container(out: TextBuilder, info: str, content: str, line: int, first: int) -> None:
    """A ::: container that is no MyST directive: Docusaurus's and VitePress's admonitions
    (:::tip, :::note[Title], ::: details Click me), their code groups, Pandoc's divs. Its
    body is Markdown, under its title when it has one (shown as MyST's admonition or
    dropdown); a mkdocstrings line (::: package.module.Name) is the API reference generated
    at build time: nothing a reader of the source can show."""
    m = _CONTAINER.match(info)
    name, title = (m.group(1).lower(), (m.group(2) or m.group(3) or "").strip()) if m else ("", "")
    if "." in name:
        return
    if title:
        _directive(
            out, "dropdown" if name == "details" else "admonition", title, content, line, first
        )
    else:
        _directive(out, "container", "", content, line, first)


def _literal(out: TextBuilder, text: str, first: int) -> None:
    """A code block whose text begins on source line first (leading blank lines dropped)."""
    lines = text.rstrip().split("\n")
    skip = 0
    while skip < len(lines) and not lines[skip].strip():
        skip += 1
    if skip == len(lines):
        return
    out.end_block()
    out.at_line(first + skip)
    out.literal("\n".join(lines[skip:]))
    out.end_block("code")


def _options(body: list[str]) -> tuple[int, dict[str, int]]:
    """The option lines at the top of a directive's body (":key: value" lines, or a YAML block
    between --- lines): how many, and the index of each option's line by name."""
    if body and body[0].strip() == "---":
        for end in range(1, len(body)):
            if body[end].strip() == "---":
                names = {ln.split(":", 1)[0].strip(): k for k, ln in enumerate(body[:end]) if k}
                return end + 1, names
        return 0, {}
    count = 0
    while count < len(body) and _OPTION.match(body[count]):
        count += 1
    return count, {ln.strip()[1:].split(":", 1)[0]: k for k, ln in enumerate(body[:count])}


def _option_value(line: str) -> str:
    return line.strip().lstrip(":").split(":", 1)[-1].strip()


def _fields(out: TextBuilder, body: list[str], options: dict[str, int], first: int) -> None:
    """A paragraph per option the built page shows as a field ("Default: 0"), each on the
    line of its option (body's line first is source line first). MyST hands an option's
    value to the directive as a string, so it is shown as written, less code backticks."""
    for name, k in options.items():
        if (text := field(name, _option_value(body[k]))) is not None:
            out.end_block()
            out.at_line(first + k)
            out.inline(text.replace("`", ""))  # a raw string, "<empty list>" no HTML tag
            out.end_block()


def _prose(out: TextBuilder, text: str, first: int) -> None:
    """Markdown whose first line is source line first."""
    _walk(out, _parse(text), first - 1)


def _inline_text(out: TextBuilder, text: str) -> None:
    for tok in _parser().parseInline(text, _env()):
        _inline(out, tok.children or [])


def _directive(out: TextBuilder, name: str, arg: str, content: str, line: int, first: int) -> None:
    """A MyST directive (```{name} arg, or :::{name} arg with colon fences) on source line
    line, its body from line first: shown as bot.ingest.readers.directives says."""
    body = content.split("\n")
    if body and not body[-1]:
        body.pop()
    skip, options = _options(body)
    text, at = "\n".join(body[skip:]), first + skip
    if name.lower() in NO_ARGUMENT and arg:
        # MyST reads the text after a name that takes no argument as the body's first line.
        if skip:
            _prose(out, arg, line)
        else:
            text, at = f"{arg}\n{text}", line
        arg = ""
    how = kind(name)
    if how == "hidden":
        return
    if how == "object" and not arg:
        how = None  # a domain's directive with no signature ("click:example"): unknown
    if how is None:
        if name.lower() == "eval-rst":
            from bot.ingest.readers.rst import walk_rst  # rst imports this module

            walk_rst(out, text, at)
            return
        if console_like(text):
            how = "code"
        else:
            scratch = TextBuilder("md")
            _prose(scratch, text, at)
            scratch.end_block()
            if not reads_as_prose(scratch):
                return  # neither prose nor a console: a reader cannot know what it shows
            _fields(out, body, options, first)
            how = "prose"
    if how == "code":
        if "caption" in options:
            k = options["caption"]
            out.end_block()
            out.at_line(first + k)
            _inline_text(out, _option_value(body[k]))
            out.end_block()
        _literal(out, text, at)
    elif how == "version":
        version, _, extra = arg.partition(" ")
        _version(out, version_lead(name, version), extra.strip(), text, line, at)
    else:  # prose, label, object, list-table
        level = None
        if how != "prose" and arg:
            out.end_block()
            level = label_level(out)
            out.at_line(line)
            if how == "object":
                out.inline(signature(arg))  # verbatim: "*args" is no emphasis
            else:
                _inline_text(out, arg)
            out.end_block("heading", level)
        if how == "object":
            _fields(out, body, options, first)
        if how == "list-table":
            _list_table(out, text, at)
        else:
            _prose(out, text, at)
        if level is not None:
            close_section(out, level)


def _list_table(out: TextBuilder, text: str, first: int) -> None:
    """MyST's list-table, a list of rows each a list of cells: one row a line, as tables are."""
    out.end_block()
    row: list[str] | None = None
    cell: list[str] = []
    for tok in _parse(text):
        if tok.type == "list_item_open" and tok.level == 1:
            row = []
            if tok.map:
                out.at_line(first + tok.map[0])
        elif tok.type == "list_item_open" and tok.level == 3:
            cell = []
        elif tok.type == "inline" and row is not None:
            cell.append(_cell_text(tok))
        elif tok.type == "list_item_close" and tok.level == 3 and row is not None:
            row.append(" ".join(c for c in cell if c))
        elif tok.type == "list_item_close" and tok.level == 1 and row:
            out.literal(" | ".join(row))
            out.hard_break()
            row = None
    out.end_block("table")


def _version(out: TextBuilder, lead: str, extra: str, text: str, line: int, at: int) -> None:
    """Sphinx's "New in version 1.2: " before the directive's first paragraph (its argument's
    text, or its body's), or "New in version 1.2." alone when it has none."""
    out.end_block()
    out.at_line(line)
    if extra:
        out.inline(f"{lead}: ")
        _inline_text(out, extra)
        out.end_block()
        _prose(out, text, at)
        return
    tokens = _parse(text)
    if tokens and tokens[0].type == "paragraph_open" and tokens[0].map:
        out.inline(f"{lead}: ")
        out.at_line(at + tokens[0].map[0])
        _inline(out, tokens[1].children or [])
        tokens = tokens[3:]
    else:
        out.inline(f"{lead}.")
    out.end_block()
    _walk(out, tokens, at - 1)


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


# Python-Markdown's and MkDocs Material's admonitions: !!! note "Title", ??? tip (collapsed),
# ???+ warning (open), the body the lines indented under it.
# Inside a list item it is indented as the item's text is.
_ADMONITION = re.compile(r'^( *)(!!!|\?\?\?\+?)[ \t]+([\w-]+)(?:[ \t]+"([^"]*)")?[ \t]*$')
_LIST_ITEM = re.compile(r"^( *)(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_FENCE_LINE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})")
# Hugo's shortcodes ({{< note >}}, {{% alert title="Warning" %}}) and GitBook's and Jekyll's
# Liquid tags ({% tab title="Go" %}, {% hint style="info" %}): markup, not text; an inline code
# span (what a page about them shows) is matched too, so that it is kept whole.
_SITE_TAG = re.compile(r"\{\{[<%]|\{%")
_TAG_OR_CODE = re.compile(r"(`+)(?:.*?)\1|\{\{[<%].*?[%>]\}\}|\{%.*?%\}")


def _blank_markup(m: re.Match[str]) -> str:
    return m.group() if m.group(1) else " " * len(m.group())


def _outside_fences(lines: list[str]) -> list[bool]:
    """Per line, whether it lies outside a fenced code block (``` or ~~~)."""
    out, fence = [], ""
    for line in lines:
        m = _FENCE_LINE.match(line)
        if fence:
            out.append(False)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = ""
        elif m:
            out.append(False)
            fence = m.group(1)
        else:
            out.append(True)
    return out


def _admonitions(lines: list[str]) -> tuple[list[str], int]:
    """The lines with each admonition (!!! kind "Title" and the lines indented under it)
    written as the MyST admonition a reader of the built page sees: its title a heading over
    its body, or its body alone when it has none. Line for line, so citations keep their
    lines: the opening line becomes the fence, the body is dedented, and the fence closes on
    the blank line after the body, or with the last line (with neither, it is left as it
    was). Nested ones first; the count of nested fences they make is returned too."""
    out: list[str] = []
    depth, i = 0, 0
    plain = _outside_fences(lines)
    while i < len(lines):
        m = _ADMONITION.match(lines[i]) if plain[i] else None
        if m is None or (m.group(1) and not _in_list_item(lines, i, len(m.group(1)))):
            out.append(lines[i])
            i += 1
            continue
        lead = m.group(1)  # the list item's indentation, kept on every line written
        under = (lead + "    ", "\t") if not lead else (lead + "    ",)
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(under)):
            j += 1
        end = j
        while end > i + 1 and not lines[end - 1].strip():
            end -= 1
        if end == j and j < len(lines):  # no blank line to close the fence on
            out += lines[i:j]
            i = j
            continue
        at = len(lead)
        body = [
            ln[at + 4 :] if ln.startswith(under[0]) else ln[1:] if ln[:1] == "\t" else ""
            for ln in lines[i + 1 : end]
        ]
        inner, nested = _admonitions(body)
        fence = lead + ":" * (3 + nested)
        title = m.group(4)
        out.append(f"{fence}{{admonition}} {title}" if title else f"{fence}{{container}}")
        out += [lead + ln if ln else ln for ln in inner]
        if end < j:
            out.append(fence)
            out += lines[end + 1 : j]
        # else the body runs to the last line, and an unclosed fence ends with the document
        # (or with the body of the admonition around it, read as a document of its own)
        depth = max(depth, nested + 1)
        i = j
    return out, depth


def _in_list_item(lines: list[str], i: int, indent: int) -> bool:
    """Whether line i, indented by indent spaces, continues a list item above it (rather than
    being an indented code block): the nearest line less indented that opens an item, before
    any unindented line that does not."""
    for line in reversed(lines[:i]):
        if not line.strip():
            continue
        item = _LIST_ITEM.match(line)
        if item and len(item.group(1)) < indent:
            return True
        if not line[:1].isspace():
            return False
    return False


def _site_markup(text: str) -> str:
    """Markup of documentation site generators that CommonMark reads as text, rewritten line
    for line: MkDocs admonitions as MyST's, Hugo's shortcodes and Liquid tags blanked
    (outside code)."""
    lines = text.split("\n")
    if any(ln.lstrip(" ").startswith(("!!!", "???")) for ln in lines):
        lines, _ = _admonitions(lines)
    if _SITE_TAG.search(text):
        blanked = [_TAG_OR_CODE.sub(_blank_markup, ln) for ln in lines]
        code = _code_lines(lines)
        if any(
            b != ln for k, (b, ln) in enumerate(zip(blanked, lines, strict=True)) if k not in code
        ):
            # A page of Hugo, Jekyll or Eleventy: its tags run before Markdown is read, in an
            # indented block too; a fenced block of code shows them (as before version 18).
            plain = _outside_fences(lines)
            lines = [b if ok else ln for b, ln, ok in zip(blanked, lines, plain, strict=True)]
        # else every tag is in a code block: a page that shows templates (Django's, in MkDocs)
    return "\n".join(lines)


def _code_lines(lines: list[str]) -> set[int]:
    """The (0-based) lines of code blocks, fenced or indented, as CommonMark reads them."""
    code: set[int] = set()
    for tok in _parser().parse("\n".join(lines)):
        if tok.type in ("fence", "code_block") and tok.map:
            code.update(range(*tok.map))
    return code


def read_markdown(data: bytes) -> Extracted:
    """A Markdown file: front matter read (title, url), markup reduced to its visible text."""
    text = decode_text(data)
    meta, end = front_matter(text)
    # Front matter is never quoted; blank lines in its place keep the source line numbers.
    body = _site_markup("\n" * text.count("\n", 0, end) + text[end:])
    out = TextBuilder("md")
    env: dict[str, Any] = {}
    tokens = _parser().parse(body, env)
    known = _REFERENCES.set(env.get("references", {}))
    try:
        _walk(out, tokens, 0)
    finally:
        _REFERENCES.reset(known)
    title = meta.get("title")
    url = meta.get("url") or meta.get("canonical_url") or meta.get("permalink")
    return out.build(
        title=str(title).strip() if title else None,
        url=str(url).strip() if url else None,
    )
