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
- "object": a Sphinx object description (function, class, option, envvar, confval, any
  domain's directive such as ``py:function`` or ``http:get``): its argument, the signature,
  a heading over its body; the options that hold a value (confval's ``:type:`` and
  ``:default:``) shown before the body as "Default: 0", as Sphinx shows such fields.
- "hidden": not shown where it stands (toctree, todo, include...): dropped.

A directive named nowhere here is dropped, as a reader cannot know what it shows, unless its
body's text outside code blocks reads as plain prose (prose_like: sentences, nothing
code-like, as sphinx-proof's theorems or tox's ``conf`` entries, whose examples are code),
then kept as prose with the options that hold a value shown before it (tox's ``:keys:`` and
``:default:``), or is a console session (console_like: its first line a shell or Python
prompt, as pip's ``pip-cli``), then kept as code. A toctree's list of pages, a diagram or a
formula is neither and stays out.

The reStructuredText reader leaves the directives docutils knows to docutils (note, admonition,
topic, figure, math, list-table...), except code, code-block and sourcecode, whose Sphinx
options docutils would refuse, and class, which Sphinx reads as the Python domain's.
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
        "code code-block sourcecode code-cell code-tab parsed-literal doctest testcode testoutput "
        "prompt ipython jupyter-execute",
    ),
    **_named(
        "hidden",
        "toctree todo testsetup testcleanup index include literalinclude image highlight "
        "meta raw math contents mermaid graphviz csv-table module currentmodule program "
        "default-domain",
    ),
    # Sphinx's object descriptions (the Python domain's, the default, and the standard one's).
    **_named(
        "object",
        "function class method attribute data exception decorator decoratormethod "
        "staticmethod classmethod coroutinefunction coroutinemethod property type option "
        "cmdoption envvar confval describe object",
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
_LETTER = re.compile(r"[^\W\d_]")


# A domain's directives that describe no object ("py:module", "c:namespace"): nothing shown.
_DOMAIN_HIDDEN = frozenset(
    ["module", "currentmodule", "namespace", "namespace-push", "namespace-pop", "alias"]
)
# Options that steer the index, the signature or the page, never shown as a field.
_NOT_FIELDS = frozenset(
    [
        "class",
        "name",
        "noindex",
        "no-index",
        "noindexentry",
        "no-index-entry",
        "nocontentsentry",
        "no-contents-entry",
        "no-typesetting",
        "module",
        "canonical",
        "annotation",
        "async",
        "abstractmethod",
        "classmethod",
        "staticmethod",
        "final",
        "property",
        "single-line-parameter-list",
        "single-line-type-parameter-list",
        "caption",
    ]
)


def kind(name: str) -> str | None:
    """How the directive shows (see KINDS), None for one not known. A domain's directive
    ("py:function", "c:macro", "http:get") describes an object, but for those that set the
    context of the ones after them ("py:module")."""
    name = name.lower()
    if name in KINDS:
        return KINDS[name]
    domain, colon, local = name.partition(":")
    if colon and domain and local:
        return "hidden" if local in _DOMAIN_HIDDEN else "object"
    return None


def field(key: str, value: object) -> str | None:
    """How a built page shows an option of an object description (or of a directive kept as
    prose) as a field: "Default: 0" ("version_added" reads "Version added"); None for a flag
    or an option that steers the index or the page."""
    if key.lower() in _NOT_FIELDS or not isinstance(value, str) or not value.strip():
        return None
    return f"{key.replace('_', ' ').replace('-', ' ').capitalize()}: {' '.join(value.split())}"


def signature(arg: str) -> str:
    """An object description's heading: its signatures, one per line in the source, on one
    line ("open(file, mode='r')", "-v / --verbose")."""
    return " / ".join(ln.strip() for ln in arg.split("\n") if ln.strip())


def reads_as_prose(body: TextBuilder) -> bool:
    """Whether an unknown directive's body, as read, holds prose (has_prose) outside its code
    blocks and tables."""
    text = "".join(body.parts)
    kept, at = [], 0
    for start, end in sorted(body.blocks):
        kept.append(text[at:start])
        at = max(at, end)
    kept.append(text[at:])
    return has_prose("\n\n".join(part.strip() for part in kept if part.strip()))


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


def has_prose(text: str) -> bool:
    """Whether any paragraph of a body's extracted text reads as prose: prose_like, or a
    sentence of eight words or more of which at most one in five holds a character of code
    or no letter ("=", "1"). An unknown directive's description may name ``{tox_root}`` or
    hold a code example and still be prose a reader sees; a diagram, a formula or a list of
    pages holds no such paragraph."""
    for part in re.split(r"\n\s*\n", text):
        words = part.split()
        if prose_like(part):
            return True
        code = sum(bool(_NOT_PROSE.search(w)) or not _LETTER.search(w) for w in words)
        if len(words) >= 8 and _SENTENCE_END.search(part.strip()) and 5 * code <= len(words):
            return True
    return False


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
