"""reStructuredText through docutils' document tree; Sphinx roles shown as their text, Sphinx
directives (versionadded, tabs, dropdown, code-block...) as a built page shows their body."""

from __future__ import annotations

import copy
import io
import re
from functools import cache
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, Parser, directives, states
from docutils.parsers.rst.languages import en

from bot.ingest.readers.base import Extracted, TextBuilder, decode_text
from bot.ingest.readers.directives import (
    KINDS,
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

# Sphinx roles (:ref:, :func:...) are unknown to plain docutils, which keeps them as
# "problematic" raw text: shown as the text a built page would show.
_RAW_ROLE = re.compile(r"^:[\w:.+-]+:`(.*)`$", re.DOTALL)
_SKIP = (
    nodes.system_message,
    nodes.comment,
    nodes.substitution_definition,
    nodes.target,
    nodes.raw,
    nodes.pending,
    nodes.footnote,
    nodes.citation,
)
_CODE = (nodes.literal_block, nodes.doctest_block, nodes.math_block)
# Elements whose first child, a title, is a heading over the rest (a section of their own).
_TITLED = (nodes.Admonition, nodes.topic, nodes.sidebar)
SETTINGS = {
    "report_level": 5,  # problems are dropped from the text, not printed
    "halt_level": 5,
    "doctitle_xform": False,  # the first title stays a section, so sections nest under it
    "file_insertion_enabled": False,  # never read other files (include::, raw:: file)
    "raw_enabled": False,
    "warning_stream": None,
}


# ------------------------------------------------------------------ Sphinx's directives
#
# docutils knows neither Sphinx's directives nor its extensions' (sphinx-design, sphinx-tabs):
# unknown, their whole body would be dropped. They are given to this reader's own parser (not
# registered with docutils, so that other users of docutils in the process see it unchanged).


class labelled(nodes.Element):
    """A tab, dropdown or card: a title (its label), a heading over the body that follows."""


class version_change(nodes.Element):
    """versionadded/versionchanged/deprecated: lead ("New in version 1.2") before the body."""


class _AnyOptions(dict[str, Any]):
    """Every option accepted (Sphinx's :caption:, :linenos:, sphinx-design's :sync:...)."""

    def __missing__(self, key: str) -> Any:
        return directives.unchanged


def _options() -> _AnyOptions:
    # Not empty: docutils looks for options only when a directive declares some.
    return _AnyOptions({"class": directives.class_option, "name": directives.unchanged})


def _line_in_block(d: Directive, needle: str) -> int:
    """Source line of the first line of the directive's block_text that holds needle."""
    for k, ln in enumerate(d.block_text.split("\n")):
        if needle and needle in ln:
            return int(d.lineno) + k
    return int(d.lineno)


def _paragraph(d: Directive, text: str, needle: str | None = None) -> list[nodes.Node]:
    """A paragraph of an argument's or option's text, on the line that holds needle (by
    default text's first line)."""
    inodes, messages = d.state.inline_text(text, d.lineno)
    para = nodes.paragraph(text, "", *inodes)
    para.line = _line_in_block(d, needle or text.strip().split("\n", 1)[0].strip())
    return [para, *messages]


class _Prose(Directive):
    """A container or admonition: the body in place, the argument (if any) not shown."""

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = _options()

    def run(self) -> list[nodes.Node]:
        node = nodes.container()
        node.line = self.lineno
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _ProseNoArgument(_Prose):
    """seealso, tabs...: text after the name is the body's first line."""

    optional_arguments = 0


class _Label(_Prose):
    """tab, tab-item, dropdown, card: the argument is a heading over the body."""

    def run(self) -> list[nodes.Node]:
        node = labelled()
        node.line = self.lineno
        if self.arguments:
            inodes, messages = self.state.inline_text(self.arguments[0], self.lineno)
            title = nodes.title(self.arguments[0], "", *inodes)
            title.line = self.lineno
            node += title
            node += messages
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _VersionChange(_Prose):
    """versionadded 1.2 [text]: "New in version 1.2: " before the first paragraph."""

    required_arguments = 1
    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        node = version_change(lead=version_lead(self.name, self.arguments[0]))
        node.line = self.lineno
        if len(self.arguments) > 1:
            node += _paragraph(self, self.arguments[1])
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _Code(_Prose):
    """code-block / sourcecode / code: the body verbatim; Sphinx's options accepted, a
    :caption: shown above the code."""

    def run(self) -> list[nodes.Node]:
        out: list[nodes.Node] = []
        caption = self.options.get("caption")
        if caption:
            out += _paragraph(self, caption, ":caption:")
        text = "\n".join(self.content)
        if text.strip():
            block = nodes.literal_block(text, text)
            block.line = self.content_offset + 1  # the line of the body's first line
            out.append(block)
        return out


def _fields(d: Directive) -> list[nodes.Node]:
    """A paragraph per option the built page shows as a field ("Default: 0"), each on the
    line of its option."""
    out: list[nodes.Node] = []
    for key, value in d.options.items():
        if (text := field(key, value)) is not None:
            out += _paragraph(d, text, f":{key}:")
    return out


class _Hidden(_Prose):
    """toctree, todo, index...: nothing shown where it stands."""

    def run(self) -> list[nodes.Node]:
        return []


class _Unknown(_Prose):
    """A directive this reader does not know: its body kept only if its text outside code
    blocks reads as prose, with the fields its options show, or as code if it is a console
    session."""

    def run(self) -> list[nodes.Node]:
        text = "\n".join(self.content)
        if console_like(text):
            block = nodes.literal_block(text, text)
            block.line = self.content_offset + 1
            return [block]
        node = nodes.container()
        node.line = self.lineno
        self.state.nested_parse(self.content, self.content_offset, node)
        scratch = _Walker()
        scratch.block(node)
        scratch.out.end_block()
        if not reads_as_prose(scratch.out):
            return []
        node[0:0] = _fields(self)
        return [node]


class _Object(_Unknown):
    """An object description (function, option, confval, py:class, http:get...): the
    signature a heading over the fields and the body. A domain's directive without one
    ("click:example") is no description: read as one this reader does not know."""

    def run(self) -> list[nodes.Node]:
        if not self.arguments:
            return super().run()
        if self.name.lower() == "class" and not self.content:
            return []  # docutils' own class directive, setting the next element's class
        node = labelled()
        node.line = self.lineno
        text = signature(self.arguments[0])
        title = nodes.title(text, text)  # verbatim: "*args" is no emphasis
        title.line = self.lineno
        node += title
        node += _fields(self)
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


_BY_KIND: dict[str, type[Directive]] = {
    "prose": _Prose,
    "label": _Label,
    "version": _VersionChange,
    "code": _Code,
    "hidden": _Hidden,
    "object": _Object,
}
# docutils' own directives are kept (its admonitions, topic, figure, math...), except its code
# directive, whose options are not Sphinx's (a :caption: or :linenos: loses the whole block).
DIRECTIVES: dict[str, type[Directive]] = {
    name: _ProseNoArgument if how == "prose" and name in NO_ARGUMENT else _BY_KIND[how]
    for name, how in KINDS.items()
    if name not in en.directives or how in ("code", "object")  # Sphinx's class is py:class
}


class _LocalDirectives:
    """Mixed into each of docutils' parser states: this reader's directive table first."""

    nested_sm_kwargs: dict[str, Any]

    def __init__(self, state_machine: Any, debug: bool = False) -> None:
        super().__init__(state_machine, debug)  # type: ignore[call-arg]
        self.nested_sm_kwargs = {**self.nested_sm_kwargs, "state_classes": _state_classes()}

    def directive(self, match: Any, **option_presets: Any) -> Any:
        name = match.group(1)
        found = DIRECTIVES.get(name.lower())
        how = kind(name)
        if found is None and how in ("object", "hidden"):  # a domain's: py:function
            found = _BY_KIND[str(how)]
        if found is None:
            known, _ = directives.directive(name, self.memo.language, self.document)  # type: ignore[attr-defined]
            if known is not None:
                return super().directive(match, **option_presets)  # type: ignore[misc]
            found = _Unknown
        return self.run_directive(found, match, name, option_presets)  # type: ignore[attr-defined]


@cache
def _state_classes() -> tuple[type, ...]:
    # Explicit markup (.. name::) is dispatched through a table of Body's own functions.
    explicit = copy.copy(states.Body.explicit)
    explicit.constructs = [
        (_LocalDirectives.directive if method is states.Body.directive else method, pattern)
        for method, pattern in states.Body.explicit.constructs
    ]
    return tuple(
        type(
            cls.__name__,
            (_LocalDirectives, cls),
            {"explicit": explicit} if issubclass(cls, states.Body) else {},
        )
        for cls in states.state_classes
    )


def _parser() -> Parser:
    parser = Parser()
    parser.state_classes = _state_classes()
    return parser


# ------------------------------------------------------------------ the document tree


class _Walker:
    def __init__(self, out: TextBuilder | None = None, offset: int = 0) -> None:
        self.out = out or TextBuilder("rst")
        self.depth = 0
        self.offset = offset  # source line of the text's line 1, less one (rST inside MyST)

    def at(self, line: int | None) -> None:
        self.out.at_line(line + self.offset if line else None)

    def block(self, node: nodes.Element) -> None:
        if isinstance(node, _SKIP):
            return
        out = self.out
        if isinstance(node, nodes.section):
            self.depth += 1
            self.children(node)
            self.depth -= 1
        elif isinstance(node, nodes.topic) and "contents" in node["classes"]:
            return  # contents:: lists the section titles again
        elif isinstance(node, nodes.table):
            out.end_block()
            for row in node.findall(nodes.row):
                # Rows have no line of their own; their cells' paragraphs do.
                self.at(_line(next(iter(row.findall(nodes.paragraph)), row)))
                cells = [self.cell(entry) for entry in row.children]
                out.literal(" | ".join(cells))
                out.hard_break()
            out.end_block("table")
        elif isinstance(node, _CODE):
            out.end_block()
            text = node.astext()
            self.at(_code_line(node, text))
            out.literal(text.strip("\n"))
            out.end_block("code")
        elif isinstance(node, (labelled, *_TITLED)) and _title(node) is not None:
            self.labelled(node, _title(node))
        elif isinstance(node, nodes.rubric):
            self.labelled(node, node)  # an informal heading: no section after it
        elif isinstance(node, version_change):
            self.version(node)
        elif isinstance(node, nodes.TextElement):
            out.end_block()
            heading = isinstance(node, nodes.title) and isinstance(node.parent, nodes.section)
            line = _line(node)
            # A section title's line is that of its underline.
            self.at(line - 1 if heading and line and line > 1 else line)
            self.inline(node)
            out.end_block("heading" if heading else "para", self.depth if heading else 0)
        else:
            self.children(node)

    def cell(self, entry: nodes.Node) -> str:
        """A table cell's text on one line, read as its paragraphs are: a role shown as its
        text, docutils' messages about it (astext's "Unknown interpreted text role") not."""
        if not isinstance(entry, nodes.Element):
            return " ".join(entry.astext().split())
        scratch = _Walker()
        scratch.children(entry)
        scratch.out.end_block()
        return " ".join("".join(scratch.out.parts).split())

    def children(self, node: nodes.Element, skip: nodes.Node | None = None) -> None:
        for child in node.children:
            if isinstance(child, nodes.Element) and child is not skip:
                self.block(child)

    def labelled(self, node: nodes.Element, title: nodes.Element) -> None:
        """The title a heading over the node's other children, its section ended after them."""
        out = self.out
        out.end_block()
        level = label_level(out)
        self.at(_line(title))
        self.inline(title)
        out.end_block("heading", level)
        if node is not title:
            self.children(node, skip=title)
        close_section(out, level)

    def version(self, node: version_change) -> None:
        """Sphinx's "New in version 1.2: " before the first paragraph, or alone with a stop."""
        out = self.out
        out.end_block()
        self.at(_line(node))
        first = next((c for c in node.children if isinstance(c, nodes.Element)), None)
        if isinstance(first, nodes.paragraph):
            out.inline(f"{node['lead']}: ")
            self.at(_line(first))
            self.inline(first)
        else:
            out.inline(f"{node['lead']}.")
            first = None
        out.end_block()
        self.children(node, skip=first)

    def inline(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Text):
            self.out.inline(node.astext())  # without escapes (\x00)
        elif isinstance(node, nodes.problematic):
            raw = node.astext()
            m = _RAW_ROLE.match(raw)
            self.out.inline(role_text(m.group(1)) if m else raw)
        elif isinstance(node, nodes.image):
            self.out.inline(str(node.get("alt", "")))
        elif isinstance(node, (*_SKIP, nodes.footnote_reference, nodes.citation_reference)):
            return
        elif isinstance(node, nodes.Element):
            for child in node.children:
                self.inline(child)


def _title(node: nodes.Element) -> nodes.title | None:
    first = next((c for c in node.children if isinstance(c, nodes.Element)), None)
    return first if isinstance(first, nodes.title) else None


def _line(node: Any) -> int | None:
    while node is not None:
        if getattr(node, "line", None):
            return int(node.line)
        node = node.parent
    return None


def _code_line(node: nodes.Element, text: str) -> int | None:
    """Source line of a code block's first line. Literal (::) and doctest blocks and this
    reader's code directives carry it; docutils' math directive carries the directive's."""
    line = _line(node)
    raw = node.rawsource
    if line and isinstance(node, nodes.math_block) and raw.startswith(".."):
        first = text.strip("\n").split("\n", 1)[0].strip()
        for k, ln in enumerate(raw.split("\n")):
            if k and first and ln.strip() == first:
                return line + k
    return line


# A substitution definition (".. |name| replace:: ..."), and a reference to one in its text.
_SUBSTITUTION_DEFINITION = re.compile(r"^(\s*\.\.\s+\|([^|\n]+)\|\s+replace::)(.*)$", re.MULTILINE)
_SUBSTITUTION_REFERENCE = re.compile(r"(?<![\\\w])\|([^|\s][^|\n]*)\|(?=\W|$)")
_DEFINED = re.compile(r"^\s*\.\.\s+\|([^|\n]+)\|", re.MULTILINE)


def _escape_undefined_nested(text: str) -> str:
    """text with references to undefined substitutions inside a replace:: definition
    escaped, so they read as written ("Enable Mode |br| (Privilege Escalation)"), as an
    undefined reference elsewhere does: a Sphinx project defines |br| once in its conf.py
    (rst_epilog), and docutils' Substitutions transform raises KeyError on a nested one it
    does not know. The line breaks stay where they are (line numbers are cited)."""
    defined = {nodes.fully_normalize_name(m.group(1)) for m in _DEFINED.finditer(text)}

    def escape(m: re.Match[str]) -> str:
        known = nodes.fully_normalize_name(m.group(1)) in defined
        return m.group(0) if known else "\\" + m.group(0)

    def definition(m: re.Match[str]) -> str:
        return m.group(1) + _SUBSTITUTION_REFERENCE.sub(escape, m.group(3))

    return _SUBSTITUTION_DEFINITION.sub(definition, text)


def _doctree(text: str) -> nodes.document:
    return publish_doctree(
        _escape_undefined_nested(text),
        parser=_parser(),
        settings_overrides={**SETTINGS, "warning_stream": io.StringIO()},
    )


def walk_rst(out: TextBuilder, text: str, first_line: int) -> None:
    """Add reStructuredText whose first line is source line first_line to out (MyST's
    eval-rst directive); its titles become sections inside the one open."""
    walker = _Walker(out, first_line - 1)
    walker.depth = label_level(out) - 1
    walker.block(_doctree(text))
    out.end_block()


def read_rst(data: bytes) -> Extracted:
    """An .rst file: its first section title is the document title."""
    walker = _Walker()
    walker.block(_doctree(decode_text(data)))
    return walker.out.build()
