"""Sphinx and MyST directives whose body a reader of the built page sees, for the Markdown and
reStructuredText readers: how each shows, and the sections their labels open.

How a directive shows (KINDS):

- "prose": its body, read as the document's own markup, in place; its argument is not shown
  (an admonition's body, a tab-set's tabs, a figure's caption, an ``only`` block).
- "label": its argument (a tab's label, a dropdown's or a titled admonition's title) is a
  heading over its body; the section that heading opens ends with the directive.
- "version": Sphinx's "New in version 1.2: " before its first paragraph (versionadded...).
- "code": its body verbatim, a code block (kept as text, never marked as the answer).
- "list-table": its body, a list of rows each a list of cells, a table; its argument, the
  table's title, a heading over it as with "label".
- "hidden": not shown where it stands (toctree, todo, include...): dropped.

A directive named nowhere here is dropped, as a reader cannot know what it shows, unless its
body reads as plain prose (prose_like: sentences, nothing code-like, as a domain's
``py:function`` description or sphinx-proof's theorems), then kept as prose, or is a console
session (console_like: its first line a shell or Python prompt, as pip's ``pip-cli``), then
kept as code. A toctree's list of pages, a diagram or a formula is neither and stays out.

The reStructuredText reader leaves the directives docutils knows to docutils (note, admonition,
topic, figure, math, list-table...), except code, code-block and sourcecode, whose Sphinx
options docutils would refuse.
"""

from __future__ import annotations

import re

from bot.ingest.readers.base import TextBuilder


def _named(how: str, names: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), how)


_ADMONITIONS = (
    "note warning tip important hint caution attention danger error seealso "
    "epigraph pull-quote highlights"
)
KINDS: dict[str, str] = {
    **_named("prose", _ADMONITIONS),
    # Containers: sphinx-design, sphinx-tabs, Sphinx's only/hlist/glossary, MyST's div.
    **_named(
        "prose",
        "tab-set tabs tab-set-code grid grid-item container div only hlist glossary figure",
    ),
    **_named(
        "label",
        "tab tab-item group-tab dropdown admonition topic sidebar margin card grid-item-card "
        "table rubric",
    ),
    **_named("version", "versionadded versionchanged deprecated versionremoved"),
    **_named(
        "code",
        "code code-block sourcecode code-cell code-tab parsed-literal doctest testcode testoutput",
    ),
    **_named(
        "hidden",
        "toctree todo testsetup testcleanup index include literalinclude image highlight "
        "meta raw math contents mermaid graphviz csv-table",
    ),
    "list-table": "list-table",
}
# Directives that take no argument: text after the name is the first line of the body.
NO_ARGUMENT = frozenset(
    [*_ADMONITIONS.split(), "tab-set", "tabs", "tab-set-code", "grid-item", "hlist", "glossary"]
)
VERSION_LEAD = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
    "versionremoved": "Removed in version",
}
# A label outside any section: deeper than any real heading, so that a document's own
# heading, not a tab's label, stays its title.
LOOSE_LEVEL = 7

_PROMPT = re.compile(r"^\s*(?:\$|>>>|[A-Z]:\\[^>\n]*>|PS [^>\n]*>)\s")
_NOT_PROSE = re.compile(r"[\\{}<>=|]|->")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")


def kind(name: str) -> str | None:
    """How the directive shows (see KINDS), None for one not known."""
    return KINDS.get(name.lower())


def version_lead(name: str, version: str) -> str:
    """Sphinx's words before a version directive's text: "New in version 1.2"."""
    return f"{VERSION_LEAD[name.lower()]} {version}".strip()


def prose_like(text: str) -> bool:
    """Whether a body's extracted text reads as prose: a sentence of three words or more, and
    no character of code, markup or a formula (a toctree's "Title <page>", "a -> b", "x = 1")."""
    if _NOT_PROSE.search(text):
        return False
    return any(
        len(part.split()) >= 3 and _SENTENCE_END.search(part.strip())
        for part in re.split(r"\n\s*\n", text)
    )


def console_like(text: str) -> bool:
    """Whether a body is a console session: its first line begins with a prompt ($, >>>, C:\\>)."""
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    return bool(_PROMPT.match(first))


def label_level(out: TextBuilder) -> int:
    """The heading level for a label that opens a section inside the one now open."""
    path: list[int] = []
    for start, end, level in out.headings:
        while path and path[-1] >= level:
            path.pop()
        if end > start:
            path.append(level)
    return path[-1] + 1 if path else LOOSE_LEVEL


def close_section(out: TextBuilder, level: int) -> None:
    """End the section a label opened: an empty heading at its level (Layout.section_of pops
    the sections at that level and deeper, and shows no title for it), so the text after the
    directive is cited under the section around it again."""
    out.end_block()
    out.headings.append((out.size, out.size, level))


# A role or cross-reference with its own text: "text <target>".
_TARGET = re.compile(r"^(.*?)\s*<[^<>]*>$", re.DOTALL)


def role_text(content: str) -> str:
    """The visible text of a role or cross-reference: "text <target>" shows text, "~a.b" b."""
    if m := _TARGET.match(content):
        if m.group(1).strip():
            return m.group(1).strip()
        content = content[content.rfind("<") + 1 : -1]
    if content.startswith("~"):
        return content[1:].rsplit(".", 1)[-1]
    return content.lstrip("!")
