"""Mine documentation question-answer pairs for the verifier cross-encoder (issue 19).

From pinned snapshots of public repositories (training/sources.toml), the documentation files
are exported into cache/training/docs/, hashed into training/docs_manifest.jsonl and read
through the bot's own readers (bot.ingest.corpus.read_document). Each question-like heading
("How do I ...?", "Where is the cache stored") and each FAQ entry becomes one question; its
section body is the positive passage, other sections of the same document are hard negatives
and the passages of the project's other files that share the most words with the question
(BM25) are "not answerable" negatives. Nothing is written by a model: questions are heading
text, lightly normalised; passages are runs of whole sentences of the document text.

    nice -n 10 .venv/bin/python training/mine_docs.py

Deterministic: the same sources give the same rows in the same order.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import hashlib
import json
import logging
import random
import re
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pathspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: the bot's package is beside us
    sys.path.insert(0, str(ROOT))

from bot.ingest.chunking import Span, split_sentences  # noqa: E402
from bot.ingest.corpus import Document, read_document  # noqa: E402
from bot.ingest.readers import UnreadableError  # noqa: E402
from bot.search.lexical import tokenize  # noqa: E402

log = logging.getLogger("mine_docs")

# ------------------------------------------------------------------ what may never be mined


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ../shared/docs/heldout-projects.txt (a held-back check asks questions about these projects'
# documentation), eval/real_docs and eval/pip_docs (psf/requests, pypa/pip, zlib) and the
# projects of eval/third_docs. A source whose owner or name is one of these is refused.
HELDOUT_NAMES = _words(
    "alsa alsa-lib alsa-utils base-passwd bzip2 debian-refcard dpkg fontconfig git gnupg gpg "
    "graphviz jansson libtasn1 man-db nettle asvs owasp pip setuptools pkg_resources "
    "postgresql-common procps procps-ng cpython python-policy shared-mime-info sqlite systemd "
    "valgrind xorg x11 xorg-docs yq zlib zstd requests"
)
FORBIDDEN_REPOS = frozenset(
    r.lower()
    for r in (
        "psf/requests",
        "python/cpython",
        "BurntSushi/ripgrep",
        "restic/restic",
        "junegunn/fzf",
        "sharkdp/bat",
        "gohugoio/hugoDocs",
        "madler/zlib",
        "facebook/zstd",
    )
)
FORBIDDEN_OWNERS = frozenset({"pypa", "git", "systemd", "sqlite", "gnupg", "madler"})


# The documentation development set's sources (eval/docs_dev_natural/sources.toml): projects
# a verifier is chosen on, so never trained on.
DEVELOPMENT_SOURCES = ROOT / "eval" / "docs_dev_natural" / "sources.toml"


@functools.cache
def development_repos(path: Path = DEVELOPMENT_SOURCES) -> frozenset[str]:
    """The repositories (lower-case owner/name) of the development set's sources."""
    if not path.is_file():
        return frozenset()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return frozenset(row["repo"].lower() for row in data["source"])


def forbidden(repo: str, *, development: bool = False) -> str | None:
    """Why repo may not be mined, or None; with development, a development set's project
    may be (it is read, for eval/docs_dev_natural/export.py, never trained on)."""
    owner, name = repo.lower().split("/", 1)
    if repo.lower() in FORBIDDEN_REPOS:
        return "reserved for an evaluation set"
    if not development and repo.lower() in development_repos():
        return "a development set's project (eval/docs_dev_natural/sources.toml)"
    if owner in FORBIDDEN_OWNERS:
        return f"owner {owner} is held out"
    if name in HELDOUT_NAMES or owner in HELDOUT_NAMES:
        return f"{name} is a held-out project"
    return None


# Files no source ever contributes: change logs, release notes, templates, agent prompts, tests.
GLOBAL_EXCLUDE = (
    ".github/",
    ".claude/",
    ".agents/",
    "agents/",
    "AGENTS.md",
    "CLAUDE.md",
    "SKILL.md",
    "copilot-instructions.md",
    "CHANGELOG*",
    "CHANGES*",
    "HISTORY*",
    "NEWS*",
    "RELEASE-NOTES*",
    "RELEASE*.md",
    "changelog/",
    "changelogs/",
    "changes/",
    "whatsnew/",
    "release-notes/",
    "releases/",
    "upcoming_changes/",
    "CODE_OF_CONDUCT*",
    "PULL_REQUEST_TEMPLATE*",
    "ISSUE_TEMPLATE*",
    "tests/",
    "test/",
    "testing/",
    "test-data/",
    "node_modules/",
    "vendor/",
    "3rdparty/",
    "third_party/",
    "LICENSE*",
    "COPYING*",
)
READABLE = (".md", ".markdown", ".rst", ".txt", ".html", ".htm")


@dataclass(frozen=True)
class Source:
    """One pinned repository and the documentation files taken from it."""

    repo: str
    commit: str
    licence: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    as_txt: tuple[str, ...] = ()  # files without a suffix that are plain text: read as .txt
    note: str = ""

    @property
    def key(self) -> str:
        return self.repo.replace("/", "+")


COPYLEFT = re.compile(r"\b(A?GPL|LGPL|MPL|EPL|CC-BY-SA)-")


def load_sources(path: Path, *, copyleft: bool = False, development: bool = False) -> list[Source]:
    """The [[source]] tables of sources.toml, refusing held-out and reserved projects (and,
    unless development, the development set's); those under a copyleft licence are left out
    unless `copyleft` (weights trained on them would need that licence settled before they
    ship)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: list[Source] = []
    for row in data["source"]:
        src = Source(
            repo=row["repo"],
            commit=row["commit"],
            licence=row["licence"],
            include=tuple(row["include"]),
            exclude=tuple(row.get("exclude", ())),
            as_txt=tuple(row.get("as_txt", ())),
            note=row.get("note", ""),
        )
        if (why := forbidden(src.repo, development=development)) is not None:
            raise SystemExit(f"{src.repo}: may not be mined ({why})")
        if not re.fullmatch(r"[0-9a-f]{40}", src.commit):
            raise SystemExit(f"{src.repo}: commit must be a full sha, not {src.commit!r}")
        if COPYLEFT.search(src.licence) and not copyleft:
            log.info("%s: left out, licence %s (--copyleft takes it)", src.repo, src.licence)
            continue
        out.append(src)
    names = [s.repo for s in out]
    if len(set(names)) != len(names):
        raise SystemExit("a repository is listed twice in the sources")
    return out


# ------------------------------------------------------------------ export and manifest


def git(git_dir: Path, *args: str) -> bytes:
    """Run git on a bare snapshot; its stdout."""
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True
    ).stdout


def export(src: Source, mirror: Path, docs_root: Path) -> list[dict[str, Any]]:
    """Write the selected files of src at its commit under docs_root/<owner>+<name>/ and
    return their manifest rows (sorted by path)."""
    git_dir = mirror / src.key / "repo"
    if not git_dir.is_dir():
        raise SystemExit(f"{src.repo}: no snapshot at {git_dir} (fetch github:{src.repo} first)")
    listing = git(git_dir, "ls-tree", "-r", "-z", "--full-tree", src.commit).split(b"\0")
    include = pathspec.GitIgnoreSpec.from_lines(src.include)
    exclude = pathspec.GitIgnoreSpec.from_lines((*GLOBAL_EXCLUDE, *src.exclude))
    as_txt = pathspec.GitIgnoreSpec.from_lines(src.as_txt)
    wanted: list[tuple[str, str, str]] = []  # (repo path, exported path, blob)
    for entry in listing:
        if not entry:
            continue
        meta, path = entry.decode("utf-8", "surrogateescape").split("\t", 1)
        mode, kind, blob = meta.split()
        if kind != "blob" or mode == "120000":  # symlinks are not documents
            continue
        if not include.match_file(path) or exclude.match_file(path):
            continue
        if src.as_txt and as_txt.match_file(path) and "." not in path.rsplit("/", 1)[-1]:
            out_path = path + ".txt"
        elif path.lower().endswith(READABLE):
            out_path = path
        else:
            continue
        wanted.append((path, out_path, blob))
    wanted.sort()
    base = docs_root / src.key
    rows: list[dict[str, Any]] = []
    proc = subprocess.Popen(
        ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    for path, out_path, blob in wanted:
        proc.stdin.write(blob.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().split()
        size = int(header[2])
        data = proc.stdout.read(size)
        proc.stdout.read(1)  # the newline after each object
        target = base / out_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)
        row: dict[str, Any] = {"project": src.repo, "path": path}
        if out_path != path:
            row["file"] = out_path  # exported under another name (as_txt)
        row |= {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        rows.append(row)
    proc.stdin.close()
    proc.wait()
    return rows


# ------------------------------------------------------------------ questions

WH = frozenset({"how", "what", "where", "when", "why", "which", "who"})
AUX = _words(
    "can could does do did is are was were should will would may might must shall has have am"
)
# After "when" or "where", a heading is a question only when this word follows ("When to
# yank", "Where is the cache stored"); "When fixing a bug", "When you disagree" are not.
WHEN_NEXT = _words("to is are does do should can will would was were did i we does")
STOP = _words(
    "a an the of to in on for and or with by at from as is are be been was were do does did "
    "can could should would will shall may might must i you we it its it's this that these "
    "those my your our their there here how what where when why which who whom whose not no "
    "if then so than into about over under up out use using used get have has had some any "
    "all one also just more most much many very s t don't doesn't isn't aren't i'm i've me us "
    "they them he she his her between without within via vs versus what's where's how's "
    "who's that's there's here's let's"
)
# Words that make a heading conversational rather than a question about the subject ("Got a
# question?", "First time here?", "Ready to get started?", "What's next?").
GENERIC = _words(
    "got question questions suggestion suggestions ready started start first time want know "
    "learn next help else now bad good thing things stuff anything something everything "
    "mean means meaning"
)
_ANCHOR = re.compile(r"\s*\{:?\s*#[^}]*\}")  # "Heading { #anchor }", "{#id}", "{: #id }"
_NUMBER = re.compile(r"^(?:\d+(?:\.\d+)*\.?|[A-Z]\.|Q\s*\d*\s*[:.)\-]|Question\s*\d*\s*:)\s+")
_ELLIPSIS = ("…", "...")
_WORDS = re.compile(r"[A-Za-z][\w'’+-]*")


def clean_question(text: str) -> str:
    """A heading's text as a question: anchors, numbering, pilcrows and a trailing colon
    dropped, whitespace collapsed."""
    q = " ".join(text.split())
    q = _ANCHOR.sub("", q)
    q = q.strip().rstrip("¶#").strip()
    q = q.removesuffix(" ~").strip()
    q = _NUMBER.sub("", q)
    q = q.rstrip(":").strip()
    return q.replace("’", "'")


def _zipf(word: str) -> float:
    """How common word is in English (wordfreq's Zipf scale: 3 is once per million words)."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


def content_words(q: str) -> list[str]:
    """The lower-cased words of q that are not function words."""
    return [w.lower() for w in _WORDS.findall(q) if w.lower() not in STOP and len(w) > 1]


def is_question(q: str) -> bool:
    """Whether heading text q (cleaned) asks something a passage can answer."""
    words = q.split()
    if not 2 <= len(words) <= 40 or len(q) > 220:
        return False
    first = words[0].lower().strip("…. ¿\"'*`")
    low = q.lower()
    if low.startswith(("what's new", "whats new", "what is new", "what's changed", "how-to")):
        return False
    if first in ("howto", "how-to", "how-tos") or re.match(r"how to\s*[-–:]", low):
        return False
    if q.endswith("?"):
        if first in AUX and len(words) > 1 and words[1].lower() in ("not", "n't"):
            return False
    else:
        if first not in WH:
            return False
        second = words[1].lower()
        if first in ("when", "where") and second not in WHEN_NEXT:
            return False
        if "," in q and first in ("when", "where", "who"):
            return False
    content = [w for w in content_words(q) if w not in GENERIC]
    if len(content) >= 2:
        return True
    # One content word: a term ("Why Rust", "What is Vim?"), or a plain word in a question of
    # three words or more that opens with a question word ("Why use a Client?").
    if len(content) != 1:
        return False
    asks = q.endswith("?") and len(words) >= 3 and first in WH | AUX
    return asks or _zipf(content[0]) < 4.0


# ------------------------------------------------------------------ documents


@dataclass
class Item:
    """A heading or FAQ entry of a document: [start, end) of its own text, its level."""

    start: int
    end: int
    level: int
    text: str
    faq: bool = False


@dataclass
class Question:
    """A question mined from a heading or FAQ entry, with the offsets of its section."""

    project: str
    file: str
    fmt: str
    text: str
    section: tuple[int, int]  # heading start to body end: nothing of it is a negative
    body: tuple[int, int]
    group: str = ""


@dataclass
class Doc:
    """A document read by the bot's reader, its sentences and its headings (items)."""

    project: str
    file: str
    fmt: str
    doc: Document
    sentences: list[Span]
    starts: list[int]
    items: list[Item] = field(default_factory=list)

    def prose_start(self, a: int, b: int) -> int | None:
        """The start of the first sentence in [a, b) that does not begin in a code block or
        table, or None."""
        i = bisect.bisect_left(self.starts, a)
        blocks = self.doc.layout.blocks
        while i < len(self.sentences) and self.sentences[i].end <= b:
            x = self.sentences[i].start
            k = bisect.bisect_right(blocks, (x, len(self.doc.text) + 1)) - 1
            if k < 0 or not blocks[k][0] <= x < blocks[k][1]:
                return x
            i += 1
        return None

    def sentence_range(self, a: int, b: int) -> list[Span]:
        """The sentences that lie wholly inside [a, b)."""
        i = bisect.bisect_left(self.starts, a)
        out = []
        while i < len(self.sentences) and self.sentences[i].end <= b:
            out.append(self.sentences[i])
            i += 1
        return out


_UNDERLINE = re.compile(r"([=\-~^\"'*+#`:._])\1{2,}")
_TXT_NUMBERED = re.compile(r"^\s*(\d+(?:\.\d+)*)\.?\s+(\S.*)$")
_VIM_TAGS = re.compile(r"^\s*(\*[^*\s]+\*\s*)+$")
_VIM_HEADING = re.compile(r"^[A-Z0-9][^a-z]*\s~$")
_FAQ_FILE = re.compile(r"faq|frequently|troubleshoot|q-?and-?a", re.IGNORECASE)
_FAQ_HEADING = re.compile(r"\bfaq\b|frequently asked|common questions", re.IGNORECASE)


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in re.finditer(r"\n\s*\n", text):
        if text[pos : m.start()].strip():
            spans.append((pos, m.start()))
        pos = m.end()
    if text[pos:].strip():
        spans.append((pos, len(text)))
    return spans


def txt_items(text: str, is_faq: bool) -> list[Item]:
    """Headings of a plain-text file, which its reader does not mark: a line over a rule of one
    repeated character (reStructuredText, Setext), a Vim help heading ("... ~"), and in FAQ
    files a numbered entry on a line of its own ("2.4 How do I ...?"). A paragraph that is only
    a rule ends the sections above it (level 0)."""
    items: list[Item] = []
    underline_levels: dict[str, int] = {}
    for a, b in _paragraph_spans(text):
        lines = text[a:b].split("\n")
        offs = [a]
        for line in lines[:-1]:
            offs.append(offs[-1] + len(line) + 1)
        # Vim tags ("*faq-2.1*") on lines of their own before an entry are not its text.
        while len(lines) > 1 and _VIM_TAGS.match(lines[0]):
            lines, offs = lines[1:], offs[1:]
        stripped = [line.strip() for line in lines]
        if all(_UNDERLINE.fullmatch(s) for s in stripped):
            items.append(Item(a, b, 0, ""))
            continue
        if _VIM_TAGS.match(lines[0]) and len(lines) == 1:
            items.append(Item(a, b, 0, ""))
            continue
        head: tuple[int, int] | None = None  # (line index of the title, level)
        if len(stripped) >= 2 and _UNDERLINE.fullmatch(stripped[1]) and stripped[0]:
            if len(stripped[1]) >= 0.6 * len(stripped[0]):
                level = underline_levels.setdefault(stripped[1][0], len(underline_levels) + 1)
                head = (0, level)
        elif (
            len(stripped) >= 3
            and _UNDERLINE.fullmatch(stripped[0])
            and _UNDERLINE.fullmatch(stripped[2])
            and stripped[1]
        ):
            style = "over" + stripped[2][0]  # an overlined title ranks apart from underlined
            level = underline_levels.setdefault(style, len(underline_levels) + 1)
            head = (1, level)
        elif len(stripped) == 1 and _VIM_HEADING.match(stripped[0]):
            head = (0, 1)
        elif (
            len(stripped) == 1
            and is_faq
            and (m := _TXT_NUMBERED.match(lines[0]))
            and len(stripped[0]) <= 220
            and (m.group(2).endswith("?") or not m.group(2).endswith("."))
        ):
            head = (0, 10 + m.group(1).count("."))  # "3." over "3.1" over "3.1.2"
        if head is None:
            continue
        idx, level = head
        start = offs[idx] + (len(lines[idx]) - len(lines[idx].lstrip()))
        end = offs[idx] + len(lines[idx].rstrip())
        if len(stripped) > idx + 1 and _UNDERLINE.fullmatch(stripped[idx + 1]):
            end_span = offs[idx + 1] + len(lines[idx + 1])
        else:
            end_span = end
        items.append(Item(start, max(end, end_span), level, text[start:end]))
    return items


def faq_paragraph_items(d: Doc, items: list[Item]) -> list[Item]:
    """In an FAQ document, paragraphs that are one question ("**Can I ...?**", a definition
    list's term) followed by their answer: entries below the headings."""
    text = d.doc.text
    headings = [(i.start, i.end) for i in items]
    out: list[Item] = []
    paras = _paragraph_spans(text)
    for k, (a, b) in enumerate(paras):
        para = text[a:b].strip()
        if "\n" in para or not para.endswith("?") or len(para) > 220:
            continue
        if any(s <= a < e for s, e in headings) or d.doc.layout.is_block(a, b):
            continue
        nxt = paras[k + 1] if k + 1 < len(paras) else None
        if nxt is None or text[nxt[0] : nxt[1]].strip().endswith("?"):
            continue
        out.append(Item(a, b, 99, para, faq=True))
    return out


def doc_items(d: Doc) -> list[Item]:
    """The headings of a document (its reader's, or found in plain text) and, in FAQ
    documents, the question paragraphs, in text order."""
    text = d.doc.text
    is_faq = bool(_FAQ_FILE.search(d.file.rsplit("/", 1)[-1]))
    if d.fmt == "txt":
        items = txt_items(text, is_faq or bool(_FAQ_FILE.search(d.doc.title or "")))
    else:
        items = [Item(s, e, lvl, text[s:e]) for s, e, lvl in d.doc.layout.headings]
    if is_faq or any(_FAQ_HEADING.search(i.text) for i in items):
        items = sorted(items + faq_paragraph_items(d, items), key=lambda i: i.start)
    return items


def section_end(items: Sequence[Item], k: int, text_len: int) -> int:
    """Where item k's section ends: the next item of its level or a higher one."""
    level = items[k].level
    for nxt in items[k + 1 :]:
        if nxt.level <= level:
            return nxt.start
    return text_len


def prose_chars(d: Doc, a: int, b: int) -> int:
    """Non-space characters of [a, b) outside code blocks, tables and headings."""
    layout = d.doc.layout
    taken = [(max(s, a), min(e, b)) for s, e in layout.blocks if s < b and a < e]
    taken += [(max(i.start, a), min(i.end, b)) for i in d.items if i.start < b and a < i.end]
    mask = np.ones(max(0, b - a), dtype=bool)
    for s, e in taken:
        mask[s - a : e - a] = False
    chunk = d.doc.text[a:b]
    return sum(1 for ch, keep in zip(chunk, mask, strict=True) if keep and not ch.isspace())


def cut(d: Doc, a: int, b: int, limit: int, minimum: int = 0) -> tuple[int, int] | None:
    """The longest run of whole sentences from the first in [a, b) of at most limit
    characters (at least one sentence; a first sentence over limit is cut at a word)."""
    sents = d.sentence_range(a, b)
    if not sents:
        return None
    first = sents[0].start
    end = sents[0].end
    for s in sents[1:]:
        if s.end - first > limit:
            break
        end = s.end
    if end - first > limit * 1.5:  # one huge "sentence" (code, a list): cut at a word
        space = d.doc.text.rfind(" ", first, first + limit)
        end = space if space > first + minimum else first + limit
    if end - first < minimum:
        return None
    return first, end


# ------------------------------------------------------------------ mining one project


def mine_questions(d: Doc) -> list[Question]:
    """The question-like headings and FAQ entries of a document whose body says something."""
    text = d.doc.text
    items = d.items
    out: list[Question] = []
    parents: list[Item] = []
    for k, item in enumerate(items):
        while parents and parents[-1].level >= item.level:
            parents.pop()
        parent = parents[-1] if parents else None
        parents.append(item)
        if not item.text.strip():
            continue
        q = clean_question(item.text)
        if q.startswith(_ELLIPSIS) and parent is not None:
            # beets' FAQ: "How do I…" over "…rename my files ...?"
            head = clean_question(parent.text)
            if head.endswith(_ELLIPSIS):
                q = head.rstrip("….").rstrip() + " " + q.lstrip("….").lstrip()
        if q.endswith(_ELLIPSIS) or not is_question(q):
            continue
        end = section_end(items, k, len(text))
        body_start = item.end
        if prose_chars(d, body_start, end) < 80:
            continue
        out.append(
            Question(
                project=d.project,
                file=d.file,
                fmt=d.fmt,
                text=q,
                section=(item.start, end),
                body=(body_start, end),
            )
        )
    return out


# A passage scoring at least this share of the best BM25 score among the question's own
# section's passages and holding at least RIVAL_COVER of the question's content terms is taken
# for another answer to it (the same FAQ entry in two files), never for a negative.
RIVAL = 0.8
RIVAL_COVER = 0.6
RIVAL_ALL = 0.5  # the share when the passage holds every content term (two or more)


@dataclass(frozen=True)
class Window:
    doc: int
    start: int
    end: int
    text: str


def norm(s: str) -> str:
    """Lower-cased words of s, single-spaced: for containment tests."""
    return " ".join(re.findall(r"\w+", s.lower()))


def shingles(s: str, n: int = 10) -> set[str]:
    """The runs of n words of s: a passage sharing many with the answer repeats it."""
    words = norm(s).split()
    return {" ".join(words[i : i + n]) for i in range(max(0, len(words) - n + 1))}


def windows_of(d: Doc, index: int, rng_seed: str) -> list[Window]:
    """Passages of the document: runs of sentences of 400 to 1,100 characters. They run on over
    headings (as the bot's passages do) but never over a question or an FAQ entry, whose text
    is in none of them; windows of under 80 prose characters and lists of questions (tables of
    contents) are left out."""
    text = d.doc.text
    stops = [
        i
        for i in d.items
        if i.level == 0 or i.faq or (i.text.strip() and is_question(clean_question(i.text)))
    ]
    runs: list[tuple[int, int]] = []
    pos = 0
    for i in stops:
        runs.append((pos, i.start))
        pos = i.end
    runs.append((pos, len(text)))
    out: list[Window] = []
    rng = random.Random(rng_seed)
    for a, b in runs:
        pos = a
        while pos < b:
            start = d.prose_start(pos, b)  # a window starts at prose, not inside code
            if start is None:
                break
            span = cut(d, start, b, rng.randint(400, 1100))
            if span is None:
                break
            s, e = span
            chunk = text[s:e]
            if prose_chars(d, s, e) >= 80 and not toc_like(chunk):
                out.append(Window(index, s, e, chunk))
            pos = e
    return out


def toc_like(chunk: str) -> bool:
    """A list of questions (an FAQ's index) or of links: not a passage that says anything."""
    lines = [line for line in chunk.split("\n") if line.strip()]
    asks = sum(1 for line in lines if line.rstrip().endswith("?"))
    return asks >= 3 and asks >= 0.4 * len(lines)


def make_rows(
    q: Question,
    index: int,
    docs: Sequence[Doc],
    own_ids: range,
    corpus: list[Window],
    scores: np.ndarray,
    covers: np.ndarray,
    n_key: int,
) -> list[dict[str, Any]]:
    """The rows of one question: its positives, same-document and corpus negatives. scores:
    the question's BM25 score of each corpus window; covers: the share of the question's
    n_key content terms each window holds."""
    d = docs[index]
    text = d.doc.text
    rng = random.Random(q.group)
    rows: list[dict[str, Any]] = []
    qn = norm(q.text.rstrip("?"))
    base = {
        "question": q.text,
        "project": q.project,
        "format": q.fmt,
        "source": q.file,
        "group": q.group,
    }

    def row(passage: str, label: int, kind: str, start: int, end: int, source: str) -> None:
        rows.append(
            {
                **base,
                "passage": passage,
                "label": label,
                "kind": kind,
                "passage_source": source,
                "span": [start, end],
            }
        )

    # Positives: the body from its start, up to ~1,200 characters at a sentence end; when that
    # is long, also its first 400-700 characters (passages of the bot's length).
    a, b = q.body
    full = cut(d, a, b, 1200, minimum=60)
    if full is None:
        return []
    s, e = full
    body_text = text[s:e]
    if qn and qn in norm(body_text) and len(qn.split()) >= 3:
        return []  # the body repeats the question: a list of questions, not an answer
    row(body_text, 1, "positive", s, e, q.file)
    if e - s >= 900:
        short = cut(d, a, b, rng.randint(400, 700), minimum=250)
        if short is not None and short[1] - short[0] < e - s - 150:
            row(text[short[0] : short[1]], 1, "positive", short[0], short[1], q.file)
    own = shingles(text[q.body[0] : q.body[1]])

    def ok(w: Window) -> bool:
        if qn and qn in norm(w.text):
            return False
        wsh = shingles(w.text)
        return not (own and wsh and len(wsh & own) >= 0.2 * len(wsh))

    # A window that scores as well as the question's own section and holds most of its
    # content terms is likely another answer to it (the same FAQ entry in two files).
    lo, hi = q.section
    inside = [k for k in own_ids if lo <= corpus[k].start < hi]
    ceiling = RIVAL * max((float(scores[k]) for k in inside), default=np.inf)

    def rival(k: int) -> bool:
        if covers[k] >= 1.0 and n_key >= 2:  # every content term of the question
            return bool(scores[k] >= ceiling * RIVAL_ALL / RIVAL)
        return bool(scores[k] >= ceiling and covers[k] >= RIVAL_COVER)

    # Same-document negatives: other sections, never inside (or around) the question's own:
    # the one that matches the question best (BM25), then others at random.
    same_ids = [k for k in own_ids if (corpus[k].end <= lo or corpus[k].start >= hi)]
    same_ids = [k for k in same_ids if not rival(k) and ok(corpus[k])]
    rng.shuffle(same_ids)
    if same_ids:
        best = max(same_ids, key=lambda k: float(scores[k]))
        same_ids.remove(best)
        same_ids.insert(0, best)
    same = [corpus[k] for k in same_ids]
    picked: list[Window] = []
    want_same = 2 + (rng.random() < 0.3)
    for w in same:
        if all(abs(w.start - p.start) > 1500 for p in picked):  # spread over the document
            picked.append(w)
        if len(picked) == want_same:
            break
    for w in picked:
        row(w.text, 0, "same_doc_negative", w.start, w.end, q.file)

    # Corpus negatives ("not answerable"): the best BM25 passages of the project's other files
    # (of the rest of this file, outside the question's section, when the project has one).
    order = np.argsort(-scores, kind="stable")
    want = 1 + (rng.random() < 0.6)
    taken = 0
    files_seen: set[int] = set()
    for idx in order[:60]:
        w = corpus[int(idx)]
        if scores[idx] <= 0:
            break
        if rival(int(idx)):
            continue
        if w.doc in files_seen:
            continue  # one passage per file: different neighbours
        if w.doc == index and (len(docs) > 1 or not (w.end <= lo or w.start >= hi)):
            continue
        if not ok(w):
            continue
        files_seen.add(w.doc)
        row(w.text, 0, "corpus_negative", w.start, w.end, docs[w.doc].file)
        taken += 1
        if taken >= want:
            break
    return rows


def group_id(project: str, file: str, question: str) -> str:
    """A stable id of one question: the sha1 of its project, file and text."""
    return hashlib.sha1(f"{project}\n{file}\n{question}".encode()).hexdigest()


def read_project(
    src: Source, manifest: list[dict[str, Any]], docs_root: Path, extract_cache: Path
) -> list[Doc]:
    """Read the exported files of src through the bot's readers; unreadable ones are
    logged and skipped."""
    base = docs_root / src.key
    docs: list[Doc] = []
    for m in manifest:
        file = m.get("file", m["path"])
        path = base / file
        try:
            doc = read_document(path, base, extract_cache)
        except (UnreadableError, OSError) as exc:
            log.info("skip %s/%s: %s", src.repo, file, exc)
            continue
        fmt = path.suffix.lower().lstrip(".")
        fmt = {"markdown": "md", "htm": "html"}.get(fmt, fmt)
        sentences = split_sentences(doc.text)
        d = Doc(src.repo, file, fmt, doc, sentences, [s.start for s in sentences])
        d.items = doc_items(d)
        docs.append(d)
    return docs


def mine_project(src: Source, docs: list[Doc]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """All rows of one project, and counts of what was found and left out."""
    notes: Counter[str] = Counter()
    questions: list[tuple[int, Question]] = []
    for i, d in enumerate(docs):
        for q in mine_questions(d):
            q.group = group_id(src.repo, d.file, q.text)
            questions.append((i, q))
    notes["candidates"] = len(questions)
    # A question asked in many files is a template ("What it does", "Why is this bad?"):
    # it means nothing on its own. One asked twice in one file keeps its first section.
    files_per_q: dict[str, set[int]] = defaultdict(set)
    for i, q in questions:
        files_per_q[q.text.lower()].add(i)
    kept: list[tuple[int, Question]] = []
    seen: set[str] = set()
    for i, q in questions:
        key = q.text.lower()
        if len(files_per_q[key]) > 2:
            notes["template"] += 1
            continue
        if key in seen:
            notes["repeated"] += 1
            continue
        seen.add(key)
        kept.append((i, q))
    corpus: list[Window] = []
    own_ids: list[range] = []
    for i, d in enumerate(docs):
        first = len(corpus)
        corpus.extend(windows_of(d, i, f"{src.repo}\n{d.file}"))
        own_ids.append(range(first, len(corpus)))
    notes["windows"] = len(corpus)
    rows: list[dict[str, Any]] = []
    if not kept or not corpus:
        return rows, notes
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    tokens = tokenize([w.text for w in corpus])
    retriever.index([t or ["<none>"] for t in tokens], show_progress=False)
    has = [frozenset(t) for t in tokens]
    function_terms = frozenset(tokenize([" ".join(sorted(STOP | WH | AUX | GENERIC))])[0])
    for i, q in kept:
        terms = [t for t in tokenize([q.text])[0] if t in retriever.vocab_dict]
        scores = (
            np.asarray(retriever.get_scores(terms), dtype=np.float32)
            if terms
            else np.zeros(len(corpus), dtype=np.float32)
        )
        wanted = set(terms) - function_terms
        covers = np.array(
            [len(wanted & h) / len(wanted) if wanted else 0.0 for h in has], dtype=np.float32
        )
        got = make_rows(q, i, docs, own_ids[i], corpus, scores, covers, len(wanted))
        if not got:
            notes["no_body"] += 1
        rows.extend(got)
    notes["questions"] = len({r["group"] for r in rows})
    return rows, notes


# ------------------------------------------------------------------ splits, stats, output


def dedupe(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """rows without repeated (question, passage) pairs, first kept."""
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        key = (r["question"], r["passage"])
        if key in seen:
            continue
        seen.add(key)
        out.append(r)
    return out


# The held-out split: three whole projects, each of a different main format (rst, md, txt).
# They were chosen as the first such projects in sha1(name) order among the 44 projects mined
# since the ninth session, and are pinned since, so that a project added later, whose name may sort
# first, never changes the split (nor the held-out figures reported on it).
HELDOUT_PROJECTS = ("numba/numba", "Homebrew/brew", "curl/curl")


def choose_heldout(
    rows: list[dict[str, Any]], projects: Sequence[str] = HELDOUT_PROJECTS
) -> list[str]:
    """The projects of the held-out split: those of `projects` that have rows, in its order
    (a partial run, --only, holds out only the pinned projects it mined)."""
    present = {r["project"] for r in rows}
    return [p for p in projects if p in present]


def stats(rows: list[dict[str, Any]], sources: list[Source], heldout: list[str]) -> dict[str, Any]:
    """Counts per project, format, kind and split, and passage lengths."""

    def count(key: str, subset: Iterable[dict[str, Any]] = rows) -> dict[str, int]:
        return dict(sorted(Counter(r[key] for r in subset).items()))

    per_project: dict[str, Any] = {}
    for src in sources:
        mine = [r for r in rows if r["project"] == src.repo]
        per_project[src.repo] = {
            "rows": len(mine),
            "questions": len({r["group"] for r in mine}),
            "kind": count("kind", mine),
            "format": count("format", mine),
            "split": "heldout" if src.repo in heldout else "train",
            "licence": src.licence,
            "commit": src.commit,
        }
    lengths: dict[str, dict[str, float]] = {}
    for kind in ("positive", "same_doc_negative", "corpus_negative"):
        sizes = sorted(len(r["passage"]) for r in rows if r["kind"] == kind)
        if sizes:
            lengths[kind] = {
                "mean": round(sum(sizes) / len(sizes), 1),
                "median": float(sizes[len(sizes) // 2]),
            }
    return {
        "rows": len(rows),
        "questions": len({r["group"] for r in rows}),
        "projects": len({r["project"] for r in rows}),
        "formats": count("format"),
        "kinds": count("kind"),
        "labels": count("label"),
        "splits": count("split"),
        "split_questions": {
            s: len({r["group"] for r in rows if r["split"] == s}) for s in ("train", "heldout")
        },
        "heldout_projects": heldout,
        "passage_chars": lengths,
        "per_split_kind": {
            s: count("kind", [r for r in rows if r["split"] == s]) for s in ("train", "heldout")
        },
        "per_project": per_project,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, default=ROOT / "training" / "sources.toml")
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=ROOT / "cache" / "training")
    parser.add_argument("--manifest", type=Path, default=ROOT / "training" / "docs_manifest.jsonl")
    parser.add_argument("--stats", type=Path, default=ROOT / "training" / "docs_pairs_stats.json")
    parser.add_argument("--only", action="append", default=[], help="mine only this repo")
    parser.add_argument(
        "--copyleft", action="store_true", help="also mine sources under a copyleft licence"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    for noisy in ("bot", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    t0 = time.monotonic()
    sources = load_sources(args.sources, copyleft=args.copyleft)
    if args.only:
        sources = [s for s in sources if s.repo in args.only]
    docs_root = args.out / "docs"
    extract_cache = args.out / "extract"
    extract_cache.mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for src in sources:
        t = time.monotonic()
        files = export(src, args.mirror, docs_root)
        manifest.extend(files)
        docs = read_project(src, files, docs_root, extract_cache)
        got, notes = mine_project(src, docs)
        got = dedupe(got)
        rows.extend(got)
        log.info(
            "%s: %d files, %d read, %d rows, %s (%.0f s)",
            src.repo,
            len(files),
            len(docs),
            len(got),
            dict(notes),
            time.monotonic() - t,
        )
    rows = dedupe(rows)
    heldout = choose_heldout(rows)
    for r in rows:
        r["split"] = "heldout" if r["project"] in heldout else "train"
    # A partial run (--only) never overwrites the full data, the manifest or the stats.
    pairs = args.out / ("docs_pairs.only.jsonl" if args.only else "docs_pairs.jsonl")
    pairs.parent.mkdir(parents=True, exist_ok=True)
    with pairs.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    if not args.only:
        with args.manifest.open("w", encoding="utf-8") as fh:
            for m in manifest:
                fh.write(json.dumps(m, ensure_ascii=False) + "\n")
        summary = stats(rows, sources, heldout)
        args.stats.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    log.info(
        "%d rows, %d questions, %d projects -> %s (%.0f s); held out: %s",
        len(rows),
        len({r["group"] for r in rows}),
        len({r["project"] for r in rows}),
        pairs,
        time.monotonic() - t0,
        ", ".join(heldout),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
