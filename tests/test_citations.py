"""Citations: page, lines, section and a link that lands on the quote, in every front end."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from fpdf import FPDF
from rich.console import Console

from bot.answer.compose import Answer, Answerer
from bot.cli import main
from bot.config import AnswerSettings, RetrievalSettings, SourceLink, settings_from_dict
from bot.discord.format import answer_embed
from bot.errors import ConfigError, IndexOutdatedError
from bot.frontends.render import render_answer, where
from bot.ingest.corpus import load_corpus
from bot.ingest.links import cite_url, published_url, text_fragment
from bot.search.build import build_index
from bot.search.store import Index
from tests.discord_fakes import source
from tests.test_readers import make_pdf

GUIDE_MD = """---
title: Deploying
url: https://docs.example.org/deploy.html
---

# Deploy

## Servers

Run the release tool to publish a build on the servers.

```
deploy publish servers release tool build run
```
"""


def corpus(tmp_path: Path) -> Path:
    seeds = tmp_path / "seeds"
    (seeds / "manual").mkdir(parents=True)
    (seeds / "guide.md").write_text(GUIDE_MD, encoding="utf-8")
    pdf = make_pdf(
        [
            [("Introduction", "Widgets are small parts that every machine needs.")],
            [("Cleaning", "Clean the widget gears with warm soapy water every month.")],
        ]
    )
    (seeds / "manual" / "widgets.pdf").write_bytes(pdf)
    (seeds / "manual" / "notes.md").write_text(
        "# Notes\n\nZebras graze on the savanna\ngrass in large herds.\n", encoding="utf-8"
    )
    return seeds


LINKS = (SourceLink("manual", "https://example.org/manual/", ((".md", ".html"),)),)


@pytest.fixture
def answerer(tmp_path, fake_embedder):
    docs, _ = load_corpus(corpus(tmp_path))
    index, _ = build_index(docs, fake_embedder, settings_from_dict({}, tmp_path).chunking)
    return Answerer(
        index, fake_embedder, RetrievalSettings(k=3), AnswerSettings(min_confidence=0), links=LINKS
    )


def test_pdf_result_has_page_section_and_page_link(answerer):
    top = answerer.ask("How do I clean the widget gears?").results[0]
    assert top.source == "manual/widgets.pdf"
    assert "warm soapy water" in top.quote
    assert (top.page, top.section, top.line_start) == (2, "Cleaning", None)
    assert top.url == "https://example.org/manual/widgets.pdf#page=2"
    assert top.citation() == "manual/widgets.pdf, p. 2 · Cleaning"


def test_markdown_result_has_lines_section_and_text_fragment(answerer):
    top = answerer.ask("How do I publish a build on the servers with the release tool?").results[0]
    assert top.source == "guide.md"
    assert top.section == "Deploy › Servers"
    assert top.page is None and top.line_start is not None and top.line_end >= top.line_start
    # The front matter's URL wins over [[sources]]; the fragment highlights the quote: from
    # its first words to its last (text=start,end for a long quote, as the browser reads it).
    url, fragment = top.url.split("#:~:text=")
    assert url == "https://docs.example.org/deploy.html"
    start, end = (unquote(part) for part in fragment.split(","))
    assert top.quote.startswith(start) and top.quote.endswith(end)


def test_code_blocks_are_quoted_but_never_marked(answerer):
    # The code block repeats the question's words more than the prose sentence does.
    top = answerer.ask("deploy publish servers release tool build run").results[0]
    assert "deploy publish servers release tool build run" in top.passage
    assert top.quote == "Run the release tool to publish a build on the servers."


def test_sources_table_gives_urls_with_suffix_rule(answerer):
    top = answerer.ask("Where do zebras graze?").results[0]
    assert top.source == "manual/notes.md"
    assert top.url.startswith("https://example.org/manual/notes.html#:~:text=")
    # The hard-wrapped paragraph is one sentence; the passage (heading too) is lines 1-4.
    assert top.quote == "Zebras graze on the savanna grass in large herds."
    assert (top.line_start, top.line_end) == (1, 4)


def test_json_results_carry_the_citation_fields(answerer):
    data = json.loads(json.dumps(answerer.ask("How do I clean the widget gears?").to_json()))
    r = data["results"][0]
    assert {k: r[k] for k in ("page", "line_start", "line_end", "section")} == {
        "page": 2,
        "line_start": None,
        "line_end": None,
        "section": "Cleaning",
    }
    assert r["url"].endswith("#page=2")


def test_terminal_shows_page_and_section(answerer):
    console = Console(record=True, color_system=None, width=200)
    render_answer(answerer.ask("How do I clean the widget gears?"), console)
    assert "manual/widgets.pdf, p. 2 · Cleaning" in console.export_text()


def test_discord_title_links_to_the_quote(answerer):
    answer = answerer.ask("How do I clean the widget gears?")
    embed = answer_embed(answer)
    assert embed.url == "https://example.org/manual/widgets.pdf#page=2"
    assert "p. 2 · Cleaning" in embed.footer.text


@pytest.mark.parametrize("url", ["file:///x.pdf", "https://x.org/a b.html", "https:///path"])
def test_discord_leaves_out_links_it_would_refuse(url):
    src = dataclasses.replace(source("Some passage text.", "Some passage"), url=url)
    assert answer_embed(Answer("q", True, [src])).url is None


def test_ask_json_through_the_cli_uses_the_sources_table(tmp_path, use_fake, capsys):
    corpus(tmp_path)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        'seeds_dir = "seeds"\nindex_dir = "embeddings"\ncache_dir = "cache"\n\n'
        "[chunking]\ntarget_tokens = 20\n\n[answer]\nmin_confidence = 0.0\n\n"
        '[[sources]]\nfolder = "manual"\nurl = "https://example.org/manual"\n',
        encoding="utf-8",
    )
    assert main(["ask", "How do I clean the widget gears?", "--json", "--config", str(cfg)]) == 0
    top = json.loads(capsys.readouterr().out)["results"][0]
    assert (top["source"], top["page"], top["section"]) == ("manual/widgets.pdf", 2, "Cleaning")
    assert top["url"] == "https://example.org/manual/widgets.pdf#page=2"
    assert list((tmp_path / "cache" / "extracted").iterdir())  # extraction was cached


def test_where_falls_back_to_counted_lines_without_a_layout():
    src = source("second line", "second")
    assert where(src, {"doc.txt": "x" * 99 + "\n" + "second line"}) == "doc.txt, line 2"
    assert where(src, None) == "doc.txt, characters 100–111"


def test_index_save_and_load_keep_urls_and_layouts(answerer, tmp_path):
    answerer.index.save(tmp_path / "index")
    loaded = Index.load(tmp_path / "index")
    assert loaded.documents == answerer.index.documents
    pdf = next(d for d in loaded.documents if d.source.endswith(".pdf"))
    start = pdf.text.index("warm soapy")
    assert pdf.locate(start, start + 4).page == 2


def test_an_index_of_the_previous_format_is_outdated_not_damaged(answerer, tmp_path):
    folder = answerer.index.save(tmp_path / "index")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 4
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexOutdatedError, match=r"older version.*format 4.*index --rebuild"):
        Index.load(tmp_path / "index")


# ------------------------------------------------------------------ links


def test_published_url_most_specific_folder_and_suffix_rule():
    links = (
        SourceLink("", "https://example.org/"),
        SourceLink("docs/api", "https://api.example.org/v2", ((".rst", ".html"), (".md", ""))),
    )
    assert published_url("a b.txt", links) == "https://example.org/a%20b.txt"
    assert published_url("docs/api/x/y.rst", links) == "https://api.example.org/v2/x/y.html"
    assert published_url("docs/api/z.md", links) == "https://api.example.org/v2/z"
    assert published_url("a.txt", ()) is None


def test_text_fragment_is_percent_encoded_per_the_spec():
    assert text_fragment("Short, sharp - done & dusted") == (
        ":~:text=Short%2C%20sharp%20%2D%20done%20%26%20dusted"
    )
    long = "one two three four five six seven eight nine ten eleven twelve"
    assert text_fragment(long) == (
        ":~:text=one%20two%20three%20four%20five,eight%20nine%20ten%20eleven%20twelve"
    )


def test_cite_url_keeps_an_existing_fragment_and_replaces_it_for_pages():
    assert cite_url("https://x.org/p#intro", "Hello world", None) == (
        "https://x.org/p#intro:~:text=Hello%20world"
    )
    assert cite_url("https://x.org/a.pdf#old", "Hello", 3) == "https://x.org/a.pdf#page=3"
    assert cite_url(None, "Hello", 3) is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"a": 1}, "sources must be a list of tables"),
        ([{"folder": 1, "url": "https://x"}], r"sources\[0\]\.folder must be a string"),
        ([{"folder": "a"}], r"sources\[0\]\.url must be a URL"),
        ([{"url": "https://x", "suffixes": {"md": ".html"}}], r"sources\[0\]\.suffixes"),
        ([{"url": "https://x", "suffix": {}}], r"Unknown setting sources\[0\]\.suffix"),
    ],
)
def test_bad_sources_tables_name_the_key(table, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        settings_from_dict({"sources": table}, tmp_path)


def test_sources_table_is_read(tmp_path):
    s = settings_from_dict(
        {"sources": [{"folder": "pip/", "url": "https://pip.pypa.io/", "suffixes": {".MD": ".h"}}]},
        tmp_path,
    )
    assert s.sources == (SourceLink("pip", "https://pip.pypa.io/", ((".md", ".h"),)),)
    assert re.match(r"https://pip\.pypa\.io/x\.h$", published_url("pip/x.md", s.sources) or "")


def test_the_marked_quote_never_spans_a_page_break(tmp_path, fake_embedder):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    pdf = FPDF()
    pdf.set_font("Helvetica", "", 11)
    for text in ("Gears need oil.", "Clean the gears with warm water."):
        pdf.add_page()
        pdf.multi_cell(0, 5, text)
    (seeds / "care.pdf").write_bytes(bytes(pdf.output()))
    docs, _ = load_corpus(seeds)
    chunking = settings_from_dict({"chunking": {"target_tokens": 30}}, tmp_path).chunking
    index, _ = build_index(docs, fake_embedder, chunking)
    answerer = Answerer(index, fake_embedder, RetrievalSettings(k=1), AnswerSettings())
    top = answerer.compose(
        "clean gears warm water",
        fake_embedder.embed(["clean gears warm water"])[0],
        answerer.retriever.search("clean gears warm water", 3),
        1,
    ).results[0]
    assert "Gears need oil." in top.passage and "\f" in top.passage  # both pages quoted
    assert top.quote == "Clean the gears with warm water." and top.page == 2


def test_heading_of_is_the_innermost_open_heading():
    from bot.ingest.layout import Layout

    text = "A\nbody\nB\nbody\nC\nbody"
    # A (level 1) holds B (level 2); an empty heading at 12 ends B's section; C is level 1.
    layout = Layout(format="md", headings=((0, 1, 1), (7, 8, 2), (12, 12, 2), (14, 15, 1)))
    assert layout.heading_of(3) == (0, 1)
    assert layout.heading_of(9) == (7, 8)
    assert layout.heading_of(13) == (0, 1)  # B's section ended: A's again
    assert layout.heading_of(16) == (14, 15)
    assert Layout(format="md", headings=((5, 6, 1),)).heading_of(2) is None
    assert layout.section_of(text, 9) == "A › B"


def test_is_heading_finds_the_heading_holding_a_span_among_many():
    from bot.ingest.layout import Layout

    heads = [(i * 10, i * 10 + 4, 1 + i % 3) for i in range(500)]
    layout = Layout(format="md", headings=(*heads, (5000, 5000, 2), (5000, 5006, 1)))
    assert layout.is_heading(1230, 1234) and layout.is_heading(1231, 1233)
    assert not layout.is_heading(1234, 1236) and not layout.is_heading(1228, 1232)
    assert layout.is_heading(5000, 5006)  # behind an empty heading at the same offset
    assert not Layout(format="md").is_heading(0, 1)
    for offset in (0, 3, 1235, 4999, 5003):
        # The open headings worked out by walking every heading up to offset.
        expected: list[tuple[int, int, int]] = []
        for start, end, level in layout.headings:
            if start > offset:
                break
            while expected and expected[-1][2] >= level:
                expected.pop()
            if end > start:
                expected.append((start, end, level))
        want = (expected[-1][0], expected[-1][1]) if expected else None
        assert layout.heading_of(offset) == want


def test_a_long_line_alone_is_not_read_as_a_heading_the_reader_missed():
    from bot.ingest.layout import Layout

    text = (
        "Digest auth-int for PUT/POST\n\n"
        "We do not support auth-int for Digest using PUT or POST\n\n"
        "See the mailing list.\n"
    )
    layout = Layout(format="txt")

    def reads(line: str) -> bool:
        at = text.index(line)
        return layout.reads_as_heading(text, at, at + len(line))

    assert reads("Digest auth-int for PUT/POST")  # a title, found by the fallback
    # Eleven words with no full stop: a sentence the reader need not mark, and the answer.
    assert not reads("We do not support auth-int for Digest using PUT or POST")
    assert not reads("See the mailing list.")
