"""Sphinx and MyST directives keep the text a reader of the built page sees (issue 19, point 5):
tabs, dropdowns, admonitions, version notes and code blocks, with their labels as sections and
every character mapped to its source line."""

from __future__ import annotations

import io

import pytest
from docutils.core import publish_doctree

from bot.config import AnswerSettings, RetrievalSettings, settings_from_dict
from bot.ingest.corpus import load_corpus
from bot.ingest.layout import Layout
from bot.ingest.readers import read_bytes
from bot.ingest.readers.directives import has_prose, prose_like
from bot.ingest.readers.rst import SETTINGS
from tests.test_readers import at, source_line


def read(src: str, suffix: str = ".md"):
    return read_bytes(src.encode(), suffix)


def line_of(e, needle: str) -> int | None:
    return at(e, needle).line_start


def section_of(e, needle: str) -> str | None:
    return at(e, needle).section


def is_block(e, needle: str) -> bool:
    start = e.text.index(needle)
    return e.layout.is_block(start, start + len(needle))


def is_heading(e, needle: str) -> bool:
    start = e.text.index(needle)
    return e.layout.is_heading(start, start + len(needle))


# ------------------------------------------------------------------ MyST: tabs

PIP_CACHE = """# Caching

pip caches the wheels it builds.

```{tab} Linux
~/.cache/pip (respects $XDG_CACHE_HOME)
```
```{tab} macOS
~/Library/Caches/pip
```
```{tab} Windows
%LocalAppData%\\pip\\Cache
```

The cache can be disabled with an option.

## Removing it

Run the purge command.
"""


def test_myst_tab_bodies_are_kept_under_their_label():
    e = read(PIP_CACHE)
    for body in ("~/.cache/pip (respects $XDG_CACHE_HOME)", "~/Library/Caches/pip"):
        assert body in e.text
    assert "{tab}" not in e.text and "```" not in e.text
    assert section_of(e, "~/.cache/pip") == "Caching › Linux"
    assert section_of(e, "~/Library/Caches") == "Caching › macOS"
    assert is_heading(e, "Linux") and is_heading(e, "macOS")
    assert line_of(e, "~/.cache/pip") == source_line(PIP_CACHE, "~/.cache/pip")
    assert line_of(e, "macOS") == source_line(PIP_CACHE, "{tab} macOS")
    assert line_of(e, "~/Library/Caches") == source_line(PIP_CACHE, "~/Library/Caches")
    # A line starting with % is a MyST comment, in a tab as anywhere.
    assert "LocalAppData" not in e.text
    # The tabs' sections end with them: what follows is the surrounding section's again.
    assert section_of(e, "The cache can be") == "Caching"
    assert section_of(e, "Run the purge") == "Caching › Removing it"
    assert e.title is None and e.layout.headings[0][2] == 1


TAB_SET = """# Install

`````{tab-set}
:sync-group: os

````{tab-item} Linux
:sync: linux

Use the package manager on Linux.

```{code-block} bash
:caption: Install it
:linenos:
:emphasize-lines: 1

apt install widget
```
````

````{tab-item} Windows
:sync: windows
Run the installer on Windows.
````
`````

Widgets then start by themselves.
"""


def test_myst_tab_set_with_tab_items_and_a_nested_code_block():
    e = read(TAB_SET)
    assert "Use the package manager on Linux." in e.text
    assert "Run the installer on Windows." in e.text
    assert "apt install widget" in e.text and "Install it" in e.text
    for option in (":sync", "sync-group", "linux\n", ":caption:", "linenos", "emphasize"):
        assert option not in e.text
    assert section_of(e, "Use the package") == "Install › Linux"
    assert section_of(e, "apt install") == "Install › Linux"
    assert section_of(e, "Run the installer") == "Install › Windows"
    assert section_of(e, "Widgets then") == "Install"
    for needle, src in [
        ("Linux", "{tab-item} Linux"),
        ("Use the package", "Use the package"),
        ("Install it", ":caption: Install it"),
        ("apt install widget", "apt install widget"),
        ("Run the installer", "Run the installer"),
        ("Widgets then", "Widgets then"),
    ]:
        assert line_of(e, needle) == source_line(TAB_SET, src), needle
    assert is_block(e, "apt install widget")
    assert not is_block(e, "Use the package")


def test_myst_nested_tabs_nest_their_sections():
    src = (
        "# OS\n\n````{tab-set}\n```{tab-item} Linux\n"
        ":::{dropdown} Debian\nUse apt on Debian.\n:::\n\nAny distribution works.\n```\n````\n"
    )
    e = read(src)
    assert section_of(e, "Use apt") == "OS › Linux › Debian"
    assert section_of(e, "Any distribution") == "OS › Linux"


# ------------------------------------------------------------------ MyST: other directives

DROPDOWN = """# Help

::::{dropdown} Why is it slow?
:open:
:color: info

The first run builds a cache.

:::{note} Later runs
reuse it.
:::
::::

::::{dropdown}
A dropdown with no title.
::::

Ask again later.
"""


def test_myst_dropdown_in_colon_fences_titles_its_body():
    e = read(DROPDOWN)
    assert "The first run builds a cache." in e.text
    # A note takes no argument: the text after its name is its body's first line.
    assert "Later runs reuse it." in e.text
    assert "A dropdown with no title." in e.text
    assert ":open:" not in e.text and "color" not in e.text and ":::" not in e.text
    assert is_heading(e, "Why is it slow?")
    assert section_of(e, "The first run") == "Help › Why is it slow?"
    assert section_of(e, "Later runs") == "Help › Why is it slow?"
    assert section_of(e, "A dropdown with") == "Help"
    assert section_of(e, "Ask again") == "Help"
    assert line_of(e, "Why is it slow?") == source_line(DROPDOWN, "{dropdown} Why")
    assert line_of(e, "The first run") == source_line(DROPDOWN, "The first run")
    assert line_of(e, "Later runs") == source_line(DROPDOWN, "Later runs")
    assert line_of(e, "reuse it") == source_line(DROPDOWN, "reuse it")


ADMONITIONS = [
    "note",
    "warning",
    "tip",
    "important",
    "caution",
    "attention",
    "danger",
    "error",
    "hint",
    "seealso",
]


@pytest.mark.parametrize("name", ADMONITIONS)
def test_myst_admonitions_keep_their_body(name):
    src = f"# Page\n\n```{{{name}}}\n:class: dropdown\n\nThe {name} body is prose.\n```\n"
    e = read(src)
    assert e.text == f"Page\n\nThe {name} body is prose."
    assert line_of(e, "The ") == 6
    assert section_of(e, "The ") == "Page"


def test_myst_admonition_title_is_kept_as_a_heading():
    src = "# Page\n\n```{admonition} Mind the gap\n:class: tip\nStep over it.\n```\n\nMore.\n"
    e = read(src)
    assert e.text == "Page\n\nMind the gap\n\nStep over it.\n\nMore."
    assert is_heading(e, "Mind the gap") and line_of(e, "Mind the gap") == 3
    assert section_of(e, "Step over") == "Page › Mind the gap"
    assert line_of(e, "Step over") == 5
    assert section_of(e, "More.") == "Page"


VERSIONS = """# API

```{versionadded} 1.2
The *timeout* parameter.

It defaults to ten seconds.
```

```{versionchanged} 2.0 Returns None on failure.
```

```{deprecated} 3.0
```

:::{versionchanged} 2.1
:class: x
Raises an error
when the file is missing.
:::
"""


def test_myst_version_directives_read_as_sphinx_shows_them():
    e = read(VERSIONS)
    assert "New in version 1.2: The timeout parameter.\n\nIt defaults to ten seconds." in e.text
    assert "Changed in version 2.0: Returns None on failure." in e.text
    assert "Deprecated since version 3.0." in e.text
    assert "Changed in version 2.1: Raises an error when the file is missing." in e.text
    assert ":class:" not in e.text
    assert line_of(e, "New in version 1.2") == source_line(VERSIONS, "{versionadded} 1.2")
    assert line_of(e, "timeout parameter") == source_line(VERSIONS, "The *timeout*")
    assert line_of(e, "It defaults") == source_line(VERSIONS, "It defaults")
    assert line_of(e, "Returns None") == source_line(VERSIONS, "Returns None")
    assert line_of(e, "Raises an error") == source_line(VERSIONS, "Raises an error")
    assert line_of(e, "when the file") == source_line(VERSIONS, "when the file")
    assert section_of(e, "It defaults") == "API"


CODE = """# Code

```{code-block} python
:linenos:
:caption: A loop

for i in range(3):
    print(i)
```

```{code} bash
ls -l
```

:::{sourcecode}
make all
:::

```{code-cell} ipython3
---
tags: [hide-output]
---
x = 1
```
"""


def test_myst_code_directives_are_code_blocks_without_their_options():
    e = read(CODE)
    assert "for i in range(3):\n    print(i)" in e.text
    assert "ls -l" in e.text and "make all" in e.text and "x = 1" in e.text
    for option in ("linenos", ":caption:", "tags", "hide-output", "---"):
        assert option not in e.text
    assert "A loop" in e.text and not is_block(e, "A loop")
    for needle in ("for i in range", "print(i)", "ls -l", "make all", "x = 1"):
        assert is_block(e, needle), needle
        assert line_of(e, needle) == source_line(CODE, needle), needle
    assert line_of(e, "A loop") == source_line(CODE, "A loop")


def test_myst_list_table_is_a_table_under_its_title():
    src = (
        "# Paths\n\n```{list-table} Cache folders\n:header-rows: 1\n\n"
        "* - System\n  - Folder\n* - Linux\n  - `~/.cache/pip`\n```\n\nDone.\n"
    )
    e = read(src)
    assert "System | Folder\nLinux | ~/.cache/pip" in e.text
    assert "header-rows" not in e.text
    assert is_block(e, "Linux | ~/.cache/pip") and line_of(e, "Linux |") == 8
    assert section_of(e, "Linux |") == "Paths › Cache folders"
    assert section_of(e, "Done.") == "Paths"


def test_myst_unknown_directives_kept_only_when_their_body_is_prose():
    src = (
        "# Ref\n\n```{toctree}\n:maxdepth: 2\n\ninstall\nusage\n```\n\n"
        "```{unknown-note}\nSends the data to the server and waits.\n```\n\n"
        "```{mermaid}\ngraph TD\n  A --> B\n```\n\n"
        "```{unknownthing}\nTitle <target>\n```\n\n"
        "```{pip-cli}\n\n$ pip install widget\n[...]\n```\n"
    )
    e = read(src)
    assert e.text == (
        "Ref\n\nSends the data to the server and waits.\n\n$ pip install widget\n[...]"
    )
    assert line_of(e, "Sends the data") == source_line(src, "Sends the data")
    # A console session (its first line a prompt) is code.
    assert is_block(e, "$ pip install") and line_of(e, "[...]") == source_line(src, "[...]")


def test_myst_eval_rst_is_read_as_restructuredtext():
    src = "# Mixed\n\n```{eval-rst}\n.. note:: Written in rST.\n\n.. versionadded:: 4.0\n```\n"
    e = read(src)
    assert e.text == "Mixed\n\nWritten in rST.\n\nNew in version 4.0."
    assert line_of(e, "Written in") == 4 and line_of(e, "New in version 4.0") == 6
    assert section_of(e, "Written in") == "Mixed"


def test_prose_like():
    assert prose_like("Sends the data to the server.")
    assert not prose_like("install usage")
    assert not prose_like("Install guide <install>.")
    assert not prose_like("x = y + 1 for every one.")


# ------------------------------------------------------------------ reStructuredText

RST = """Widgets
=======

Intro text.

.. versionadded:: 1.2
   The *timeout* parameter.

.. versionchanged:: 2.0

   Returns None on failure.

.. deprecated:: 3.0

.. code-block:: python
   :caption: A loop
   :linenos:
   :emphasize-lines: 2

   for i in range(3):
       print(i)

.. sourcecode:: bash

   ls -l

Literal::

   make all

Install
-------

.. tab-set::

   .. tab-item:: Linux
      :sync: linux

      Use the package manager on Linux.

   .. tab-item:: Windows

      Run the installer on Windows.

.. tabs::

   .. tab:: macOS

      Use Homebrew on macOS.

   .. code-tab:: py

      import widget

.. seealso:: The upgrade guide
   for older releases.

.. only:: html

   Shown in the HTML build.

.. dropdown:: Why is it slow?
   :open:

   The first run builds a cache.

.. admonition:: Mind the gap

   Step over it.

.. note::
   :class: tip

   Notes are kept.

.. toctree::
   :maxdepth: 1

   other

.. py:function:: send(data)

   Sends the data to the server and waits.

.. console-session::

   $ widget --version
   widget 1.0

.. contents::

Widgets then start.
"""


def test_rst_version_directives_read_as_sphinx_shows_them():
    e = read(RST, ".rst")
    assert "New in version 1.2: The timeout parameter." in e.text
    assert "Changed in version 2.0: Returns None on failure." in e.text
    assert "Deprecated since version 3.0." in e.text
    assert line_of(e, "New in version 1.2") == source_line(RST, "versionadded:: 1.2")
    assert line_of(e, "timeout parameter") == source_line(RST, "The *timeout*")
    assert line_of(e, "Returns None") == source_line(RST, "Returns None")
    assert line_of(e, "Deprecated since") == source_line(RST, "deprecated:: 3.0")
    assert section_of(e, "Returns None") == "Widgets"


def test_rst_code_blocks_keep_their_body_without_options_on_the_right_lines():
    e = read(RST, ".rst")
    assert "for i in range(3):\n    print(i)" in e.text
    assert "ls -l" in e.text and "make all" in e.text
    for option in ("linenos", ":caption:", "emphasize", "1 for"):
        assert option not in e.text
    assert "A loop" in e.text and not is_block(e, "A loop")
    assert line_of(e, "A loop") == source_line(RST, ":caption: A loop")
    for needle in ("for i in range", "print(i)", "ls -l", "make all", "import widget"):
        assert is_block(e, needle), needle
        assert line_of(e, needle) == source_line(RST, needle), needle


def test_rst_tabs_are_sections_that_end_with_them():
    e = read(RST, ".rst")
    for body in ("Use the package manager on Linux.", "Run the installer on Windows."):
        assert body in e.text
    assert "Use Homebrew on macOS." in e.text
    assert ":sync:" not in e.text and "tab-item" not in e.text
    assert section_of(e, "Use the package") == "Widgets › Install › Linux"
    assert section_of(e, "Run the installer") == "Widgets › Install › Windows"
    assert section_of(e, "Use Homebrew") == "Widgets › Install › macOS"
    assert section_of(e, "import widget") == "Widgets › Install"
    assert is_heading(e, "Linux") and line_of(e, "Linux\n") == source_line(RST, ":: Linux")
    assert line_of(e, "Use the package") == source_line(RST, "Use the package")
    assert line_of(e, "Use Homebrew") == source_line(RST, "Use Homebrew")
    assert section_of(e, "Widgets then") == "Widgets › Install"


def test_rst_seealso_only_dropdown_and_admonitions_keep_their_body():
    e = read(RST, ".rst")
    assert "The upgrade guide for older releases." in e.text
    assert line_of(e, "for older releases") == source_line(RST, "for older releases")
    assert "Shown in the HTML build." in e.text
    assert "The first run builds a cache." in e.text and ":open:" not in e.text
    assert section_of(e, "The first run") == "Widgets › Install › Why is it slow?"
    assert is_heading(e, "Mind the gap")
    assert section_of(e, "Step over it") == "Widgets › Install › Mind the gap"
    assert "Notes are kept." in e.text and ":class:" not in e.text
    assert section_of(e, "Notes are kept") == "Widgets › Install"
    assert line_of(e, "Notes are kept") == source_line(RST, "Notes are kept")


def test_rst_unknown_directives_kept_only_when_prose_and_contents_not_repeated():
    e = read(RST, ".rst")
    assert "toctree" not in e.text and "other" not in e.text
    assert "Sends the data to the server and waits." in e.text
    assert e.text.count("Install") == 1 and "Contents" not in e.text
    assert is_block(e, "$ widget --version\nwidget 1.0")
    assert line_of(e, "widget 1.0") == source_line(RST, "widget 1.0")


def test_rst_directives_do_not_leak_into_docutils():
    read(RST, ".rst")
    doctree = publish_doctree(
        ".. versionadded:: 1.2\n\n   Text.\n",
        settings_overrides={**SETTINGS, "warning_stream": io.StringIO()},
    )
    assert "New in version" not in doctree.astext()
    assert doctree.next_node(lambda n: n.tagname == "system_message") is not None


# ------------------------------------------------------------------ the map and the answer


def test_an_empty_heading_ends_the_sections_at_its_level():
    text = "Top\n\nTab\n\nIn the tab.\n\nAfter it."
    layout = Layout(format="md", headings=((0, 3, 1), (5, 8, 2), (21, 21, 2)))
    assert layout.section_of(text, text.index("In the tab")) == "Top › Tab"
    assert layout.section_of(text, text.index("After")) == "Top"
    assert not layout.is_heading(21, 24)
    assert Layout.from_json(layout.to_json()) == layout


def test_a_tab_body_is_quoted_and_cited_under_its_label(tmp_path, fake_embedder):
    from bot.answer.compose import Answerer
    from bot.search.build import build_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    src = (
        "# Caching\n\npip keeps a cache of the wheels it builds.\n\n"
        "```{tab} Linux\nOn Linux the cache folder is ~/.cache/pip by default.\n```\n"
        "```{tab} macOS\nOn macOS the cache folder is ~/Library/Caches/pip by default.\n```\n"
    )
    (seeds / "cache.md").write_text(src, encoding="utf-8")
    docs, _ = load_corpus(seeds)
    index, _ = build_index(docs, fake_embedder, settings_from_dict({}, tmp_path).chunking)
    settings = AnswerSettings(min_confidence=0)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(k=3), settings)
    top = answerer.ask("Where is the cache folder on macOS?").results[0]
    assert top.quote == "On macOS the cache folder is ~/Library/Caches/pip by default."
    assert top.quote in docs[0].text
    assert top.section == "Caching › macOS"
    quoted = docs[0].locate(top.quote_start, top.quote_end)
    assert quoted.line_start == quoted.line_end == top.line_end == source_line(src, "On macOS")


def test_myst_file_and_samp_roles_show_as_sphinx_shows_them():
    src = "Read {file}`%APPDATA%\\\\pip\\\\pip.ini` or run {samp}`pip install {name}`.\n"
    assert read(src).text == "Read %APPDATA%\\pip\\pip.ini or run pip install name."


# ------------------------------------------------------------------ object descriptions

OBJECTS_RST = """Reference
=========

.. confval:: jobs
   :type: int
   :default: ``1``
   :no-index:

   How many jobs run at once.

.. function:: open(file, mode='r', *args)

   Open *file* and return a stream.

.. py:module:: widgets

.. class:: Widget(size)

   A widget of the given size.

.. option:: -v, --verbose

   Say more.

.. class:: special

A paragraph docutils' own class directive gives a class.

.. conf::
   :keys: env_list, envlist
   :default: <empty list>
   :version_added: 1.0

   A list of environments to run by default, under ``{tox_root}`` unless told.

   .. code-block:: toml

      env_list = ["py"]

.. click:example::

   import click
   click.echo(click.style("hi", fg="red"))

After them.
"""


def test_rst_object_descriptions_keep_their_signature_and_fields():
    # Before readers version 9 the signatures and the :type:/:default: fields were dropped:
    # "How many jobs run at once." was all a reader's "What is the default of jobs?" found.
    e = read(OBJECTS_RST, ".rst")
    assert is_heading(e, "jobs") and section_of(e, "How many jobs") == "Reference › jobs"
    assert "Type: int\n\nDefault: 1\n\nHow many jobs run at once." in e.text
    assert "index" not in e.text.lower()  # a flag steering the index is no field
    assert line_of(e, "Default: 1") == source_line(OBJECTS_RST, ":default: ``1``")
    # The signature verbatim ("*args" is no emphasis), the heading its description sits under.
    assert section_of(e, "Open file") == "Reference › open(file, mode='r', *args)"
    assert line_of(e, "open(file") == source_line(OBJECTS_RST, ".. function:: open")
    # Sphinx's class is the Python domain's, not docutils' class directive; py:module shows
    # nothing.
    assert section_of(e, "A widget of") == "Reference › Widget(size)" and "widgets" not in e.text
    assert section_of(e, "Say more") == "Reference › -v, --verbose"
    # docutils' class directive (no body: it sets the next element's class) shows nothing.
    assert "special" not in e.text and section_of(e, "A paragraph docutils") == "Reference"
    # A domain's directive with no signature describes no object: its code body stays out.
    assert "click" not in e.text
    assert section_of(e, "After them") == "Reference"


def test_rst_an_unknown_directive_keeps_its_prose_beside_code_with_its_fields():
    # tox's own conf directive: its keys and default are what its reference page shows.
    e = read(OBJECTS_RST, ".rst")
    assert "Keys: env_list, envlist\n\nDefault: <empty list>\n\nVersion added: 1.0" in e.text
    assert "under {tox_root} unless told." in e.text
    assert is_block(e, 'env_list = ["py"]')
    assert line_of(e, "Default: <empty") == source_line(OBJECTS_RST, ":default: <empty")
    assert line_of(e, "A list of") == source_line(OBJECTS_RST, "A list of")


def test_myst_object_descriptions_and_unknown_directives_keep_what_the_page_shows():
    src = (
        "# Reference\n\n"
        "```{confval} jobs\n:type: int\n:default: `1`\n\nHow many jobs run at once.\n```\n\n"
        "```{py:function} send(data, *args)\nSends the data to the server and waits.\n```\n\n"
        "```{py:module} widgets\n```\n\n"
        "```{conf}\n:keys: env_list\n:default: <empty list>\n\n"
        "A list of environments to run by default, under `{tox_root}` unless told.\n\n"
        '~~~toml\nenv_list = ["py"]\n~~~\n```\n\n'
        "After them.\n"
    )
    e = read(src)
    assert section_of(e, "How many jobs") == "Reference › jobs"
    assert "Type: int\n\nDefault: 1\n\nHow many jobs" in e.text
    assert line_of(e, "Default: 1") == source_line(src, ":default: `1`")
    assert section_of(e, "Sends the data") == "Reference › send(data, *args)"
    assert "widgets" not in e.text
    assert "Keys: env_list\n\nDefault: <empty list>\n\nA list of environments" in e.text
    assert is_block(e, 'env_list = ["py"]')
    assert section_of(e, "After them") == "Reference"


def test_has_prose_allows_a_long_sentence_naming_code_but_no_formula_or_page_list():
    assert has_prose("A list of environments to run by default, under {tox_root} unless told.")
    assert has_prose("TOML\n\nSends the data to the server and waits.")
    assert not has_prose("x = y + 1 for every one.")
    assert not has_prose("Install guide <install>.\n\nUsage <usage>.")
    assert not has_prose("graph TD\n  A --> B")


SPHINX_HTML = """<html><head><title>Built-in Functions</title></head><body><main>
<section id="built-in"><h1>Built-in Functions<a class="headerlink" href="#b">¶</a></h1>
<p>The interpreter has many functions.</p>
<dl class="py function">
<dt class="sig sig-object py" id="open">
<span class="sig-name descname"><span class="pre">open</span></span><span
class="sig-paren">(</span><em class="sig-param">file</em>, <em class="sig-param">mode=<span
class="default_value">'r'</span></em><span class="sig-paren">)</span><a class="headerlink"
href="#open">¶</a></dt>
<dd><p>Open <em>file</em> and return a corresponding file object.</p>
<dl class="field-list simple"><dt class="field-odd">Parameters</dt><dd><p>file: a path</p></dd></dl>
</dd></dl>
<dl class="std envvar"><dt id="envvar-PYTHONHOME"><code class="descname">PYTHONHOME</code></dt>
<dd><p>Change the location of the standard Python libraries.</p></dd></dl>
<p>After the functions.</p>
<dl><dt>term</dt><dd>A plain definition list stays as it is.</dd></dl>
</section></main></body></html>"""


def test_html_sphinx_object_descriptions_are_sections_as_in_their_source():
    # The same page built by Sphinx cites a description under its signature, as its
    # reStructuredText source does (readers version 9); before, under the page's heading.
    e = read(SPHINX_HTML, ".html")
    assert is_heading(e, "open(file, mode='r')") and "¶" not in e.text
    assert section_of(e, "Open file") == "Built-in Functions › open(file, mode='r')"
    assert section_of(e, "file: a path") == "Built-in Functions › open(file, mode='r')"
    assert line_of(e, "open(file") == source_line(SPHINX_HTML, '"pre">open<')
    # Sphinx before version 4: a <dt> holding a descname.
    assert section_of(e, "Change the location") == "Built-in Functions › PYTHONHOME"
    # The description's section ends with it; a plain definition list is no description.
    assert section_of(e, "After the functions") == "Built-in Functions"
    assert section_of(e, "A plain definition") == "Built-in Functions"
    assert not is_heading(e, "term")


PROMPTS_RST = """\
Invoking it
===========

Most of the time you invoke it like so:

.. prompt:: bash

    flake8 path/to/code

An IPython session:

.. ipython:: python

    In [1]: import widget

A cell run when the page is built:

.. jupyter-execute::

    widget.run(limit=3)
"""

PROMPTS_MD = """\
# Invoking it

Most of the time you invoke it like so:

```{prompt} bash $
flake8 path/to/code
```

```{jupyter-execute}
widget.run(limit=3)
```
"""


@pytest.mark.parametrize("src, suffix", [(PROMPTS_RST, ".rst"), (PROMPTS_MD, ".md")])
def test_prompt_ipython_and_executed_cells_are_code_blocks(src, suffix):
    """sphinx-prompt's prompt, IPython's ipython and jupyter-sphinx's jupyter-execute show
    their body as code on the built page (flake8's documentation writes every command in a
    prompt directive); their bodies were dropped as unknown directives that are not prose."""
    e = read(src, suffix)
    for needle in ("flake8 path/to/code", "widget.run(limit=3)"):
        assert needle in e.text, needle
        assert is_block(e, needle), needle
        assert line_of(e, needle) == source_line(src, needle), needle
    if suffix == ".rst":
        assert "In [1]: import widget" in e.text and is_block(e, "import widget")
    assert "bash" not in e.text


GRID_WITH_ROLES = """\
Exceptions
==========

+--------------------------------------+--------------------------------------+
|  Exception thrown by C++             |  Translated to Python exception type |
+======================================+======================================+
| :class:`std::exception`              | ``RuntimeError``                     |
+--------------------------------------+--------------------------------------+
| :class:`std::bad_alloc`              | ``MemoryError``                      |
+--------------------------------------+--------------------------------------+
"""


def test_rst_table_cells_show_roles_as_the_page_does_without_docutils_messages():
    """A Sphinx role in a table cell is shown as its text, as in a paragraph; docutils'
    messages about the role it does not know ("Unknown interpreted text role") were read
    into the cell's text (pybind11's exception table)."""
    e = read(GRID_WITH_ROLES, ".rst")
    assert "std::exception | RuntimeError" in e.text
    assert "std::bad_alloc | MemoryError" in e.text
    for noise in ("ERROR", "INFO", "No role entry", "interpreted text role", "<string>"):
        assert noise not in e.text, noise
    assert is_block(e, "std::exception | RuntimeError")
    assert line_of(e, "std::bad_alloc") == source_line(GRID_WITH_ROLES, "std::bad_alloc")


CONTAINERS = """\
# Caching

:::tip Where it lives
The cache is stored in [the home folder](/docs/home) by default.
:::

:::note
Run `vite --force` to clear it.
:::

:::caution[Shared machines]
Each user gets a cache of their own.
:::

::::details Click to see more
Hidden text about **pruning** old entries.
::::

::: correct

```js
const cache = new Map();
```

:::

::: fastapi.BackgroundTasks
"""


def test_docusaurus_and_vitepress_containers_read_as_admonitions():
    """Docusaurus's and VitePress's ::: containers (tip, note, details, ...) show their body
    as Markdown, under their title when they have one; their bodies were code blocks, links
    and all, never marked as an answer. A mkdocstrings line (::: module.Name) shows nothing."""
    e = read(CONTAINERS)
    for prose in (
        "The cache is stored in the home folder by default.",
        "Run vite --force to clear it.",
        "Each user gets a cache of their own.",
        "Hidden text about pruning old entries.",
    ):
        assert prose in e.text, prose
        assert not is_block(e, prose), prose
        assert line_of(e, prose) == source_line(CONTAINERS, prose.split(" ")[0]), prose
    for title in ("Where it lives", "Shared machines", "Click to see more"):
        assert is_heading(e, title), title
    assert section_of(e, "The cache is stored") == "Caching › Where it lives"
    assert section_of(e, "Run vite") == "Caching"
    assert is_block(e, "const cache = new Map();")
    for markup in ("](/docs/home)", ":::", "tip", "fastapi.BackgroundTasks", "```"):
        assert markup not in e.text, markup


MKDOCS = """\
# Setup

!!! note "Where it lives"
    The cache is stored in [the home folder](/home) by default.

    A second paragraph of the note.

??? tip
    Run `x --force` to clear it.

    !!! warning "Inner"
        Nested text of the warning.

After the tips.

{{< note >}}
Kind needs **Docker** 20.10 or later.
{{< /note >}}

{{% alert title="Warning" color="warning" %}}
Never share the token.
{{% /alert %}}

```
!!! note "not an admonition"
    code {{< kept >}}
```

!!! info "Last"
    The last words."""


def test_mkdocs_admonitions_and_hugo_shortcodes_read_as_the_built_page_shows_them():
    """MkDocs Material's admonitions (!!! note "Title", ??? tip) are MyST's: their title a
    heading over their body, the body prose on its own lines; their bodies were an indented
    code block under a paragraph "!!! note ...". Hugo's shortcodes ({{< note >}}) are markup,
    not text. Inside a code block both stay as written."""
    e = read(MKDOCS)
    for prose, needle in (
        ("The cache is stored in the home folder by default.", "The cache is stored"),
        ("A second paragraph of the note.", "A second paragraph"),
        ("Run x --force to clear it.", "Run `x"),
        ("Nested text of the warning.", "Nested text"),
        ("After the tips.", "After the tips"),
        ("Kind needs Docker 20.10 or later.", "Kind needs"),
        ("Never share the token.", "Never share"),
        ("The last words.", "The last words"),
    ):
        assert prose in e.text, prose
        assert not is_block(e, prose), prose
        assert line_of(e, prose) == source_line(MKDOCS, needle), prose
    for title in ("Where it lives", "Inner", "Last"):
        assert is_heading(e, title), title
        assert line_of(e, title) == source_line(MKDOCS, f'"{title}"'), title
    assert section_of(e, "The cache is stored") == "Setup › Where it lives"
    assert section_of(e, "Nested text") == "Setup › Inner"
    assert section_of(e, "After the tips") == "Setup"
    for markup in ('!!! note "Where', "???", "{{<", "{{%", "color=", "](/home)"):
        outside_code = e.text.replace('!!! note "not an admonition"', "").replace("{{< kept", "")
        assert markup not in outside_code, markup
    assert is_block(e, '!!! note "not an admonition"') and "code {{< kept >}}" in e.text


def test_an_admonition_without_a_blank_line_to_close_on_is_left_as_it_was():
    src = '!!! note "Title"\n    Body line.\nNext paragraph.\n'
    e = read(src)
    assert "Body line." in e.text and "Next paragraph." in e.text
    assert line_of(e, "Next paragraph.") == 3


LISTED = """\
# Install

1. Download the archive.

    !!! note "Checksums"
        Compare the archive's checksum with the one published.

2. Unpack it.

    ??? tip
        Any folder on your PATH will do.

Done.

    !!! note "shown as code"
        An indented block under a paragraph is code.
"""


def test_an_admonition_inside_a_list_item_reads_as_at_the_top():
    """MkDocs admonitions indented under a list item were a paragraph "!!! note ... body";
    indented under a paragraph outside a list they are still a code block."""
    e = read(LISTED)
    assert is_heading(e, "Checksums")
    assert line_of(e, "Checksums") == source_line(LISTED, '"Checksums"')
    for prose in ("Compare the archive's checksum", "Any folder on your PATH will do."):
        assert not is_block(e, prose), prose
        assert line_of(e, prose) == source_line(LISTED, prose), prose
    assert '!!! note "Checksums"' not in e.text and "???" not in e.text
    assert "Unpack it." in e.text and "Done." in e.text
    assert is_block(e, "An indented block under a paragraph is code.")


ATTRIBUTES = """\
# Routing

How requests find a service.
{: .subtitle }

{: #anchor }

A kramdown paragraph ends with its own block. {: .note }

[Get started](start.md){ .md-button .md-button--primary } or ![Logo](logo.png){ width="300" } here.

Braces in prose {like this} and [a link](x.md) {kept} stay.
"""


def test_attribute_blocks_of_paragraphs_links_and_images_show_nothing():
    """Python-Markdown's attr_list and kramdown's attribute blocks style what they follow, as
    a heading's {#id} does: they were quoted as text."""
    e = read(ATTRIBUTES)
    assert "How requests find a service." in e.text
    assert "A kramdown paragraph ends with its own block." in e.text
    assert "Get started or Logo here." in e.text
    for markup in ("subtitle", "#anchor", ".note", "md-button", "width="):
        assert markup not in e.text, markup
    assert "Braces in prose {like this} and a link {kept} stay." in e.text
    assert line_of(e, "Braces in prose") == source_line(ATTRIBUTES, "Braces in prose")


REFERENCED = """\
# Credentials

```{note}
See the [standard library documentation for netrc][netrc] first.
```

!!! warning
    The [Git protocol] lacks authentication.

[netrc]: https://docs.python.org/3/library/netrc.html
[Git protocol]: https://git-scm.com/book/en/v2/Git-on-the-Server-The-Protocols
"""


def test_links_in_a_directive_body_use_the_documents_reference_definitions():
    """A directive's or an admonition's body is read on its own; its [text][label] links are
    defined at the document's end, and were shown with their brackets."""
    e = read(REFERENCED)
    assert "See the standard library documentation for netrc first." in e.text
    assert "The Git protocol lacks authentication." in e.text
    assert "[" not in e.text


TEMPLATES_SHOWN = """\
# Forms

Render a form in your template:

    {% load rest_framework %}
    <form action="{% url 'profile-detail' pk=profile.pk %}" method="POST">
        {% csrf_token %}
    </form>

Done.
"""


def test_template_tags_in_an_indented_code_block_are_code_when_no_tag_is_outside_code():
    """A page that shows templates in indented code (Django's, in an MkDocs site) keeps their
    tags; a page whose tags are markup (Hugo, Jekyll: one outside code) still loses them."""
    e = read(TEMPLATES_SHOWN)
    assert "{% load rest_framework %}" in e.text and "{% csrf_token %}" in e.text
    assert is_block(e, "{% csrf_token %}")
    templated = read("{% hint %}\nShown.\n{% endhint %}\n\nText:\n\n    {% tab %}\n")
    assert "{%" not in templated.text and "Shown." in templated.text


LIQUID = """\
# Consumers

{% tabs %}
{% tab title="Go" %}
Ordered consumers are always ephemeral.
{% endtab %}
{% endtabs %}

{% hint style="info" %}
A hint's body is shown.
{% endhint %}

Write `{{< ref "page.md" >}}` or `{% raw %}` in your own templates.
"""


def test_gitbook_and_jekyll_tags_are_markup_but_not_inside_inline_code():
    """GitBook's and Jekyll's Liquid tags ({% tab title="Go" %}, {% hint %}) are markup, as
    Hugo's shortcodes are; written inside inline code they are what the page shows."""
    e = read(LIQUID)
    for prose in ("Ordered consumers are always ephemeral.", "A hint's body is shown."):
        assert prose in e.text and not is_block(e, prose), prose
        assert line_of(e, prose) == source_line(LIQUID, prose)
    for markup in ("{% tab", "endtab", "{% hint", "endhint", "title="):
        assert markup not in e.text, markup
    assert 'Write {{< ref "page.md" >}} or {% raw %} in your own templates.' in e.text
