"""Links back to a quote: the document's URL plus a text fragment (web) or a page (PDF)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from urllib.parse import quote, urljoin

from bot.config import SourceLink

# Words of the quote kept at each end of a text fragment: enough to be unique on a page,
# few enough to survive small differences between our text and the rendered page.
FRAGMENT_WORDS = 5


def published_url(source: str, links: Sequence[SourceLink]) -> str | None:
    """The URL a [[sources]] entry gives the file at source (relative to seeds_dir), if any."""
    best: SourceLink | None = None
    for link in links:
        inside = not link.folder or source == link.folder or source.startswith(link.folder + "/")
        if inside and (best is None or len(link.folder) > len(best.folder)):
            best = link  # the most specific folder wins
    if best is None:
        return None
    rest = source[len(best.folder) :].lstrip("/") if best.folder else source
    path = PurePosixPath(rest)
    for old, new in best.suffixes:
        if path.suffix.lower() == old:
            rest = str(path.with_suffix("")) + new
            break
    base = best.url if best.url.endswith("/") else best.url + "/"
    return urljoin(base, quote(rest))


def _encode(text: str) -> str:
    # The fragment syntax gives "-", "," and "&" meanings, so they are escaped as well.
    return quote(text, safe="").replace("-", "%2D")


def text_fragment(quote_text: str) -> str:
    """A WICG text fragment (":~:text=start,end") that makes a browser scroll to and highlight
    quote_text; long quotes are given by their first and last few words."""
    words = quote_text.split()
    if not words:
        return ""
    if len(words) <= 2 * FRAGMENT_WORDS:
        return ":~:text=" + _encode(" ".join(words))
    start, end = " ".join(words[:FRAGMENT_WORDS]), " ".join(words[-FRAGMENT_WORDS:])
    return f":~:text={_encode(start)},{_encode(end)}"


def cite_url(url: str | None, quote_text: str, page: int | None) -> str | None:
    """url pointing at the quote: #page=N for a PDF page, else a text fragment."""
    if not url:
        return None
    base = url.split("#", 1)[0] if page is not None else url
    if page is not None:
        return f"{base}#page={page}"
    fragment = text_fragment(quote_text)
    if not fragment:
        return url
    # A text fragment follows the page's own fragment, if any, after the :~: delimiter.
    return f"{url}{'' if '#' in url else '#'}{fragment}"
