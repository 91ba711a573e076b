"""Assemble the real-documentation corpus in eval/real_docs/corpus (committed; see README.md).

Development script: it records how each committed file was obtained, and rebuilds the folder.
Files are copied unchanged from pypa/pip, psf/requests and madler/zlib (pinned commits) and
from Debian 12's libtasn1-doc and shared-mime-info packages; the one DOCX is made from a real
reStructuredText page (requests' advanced usage guide) by docutils and python-docx: section
titles become Word headings by depth, paragraphs, list items and literal blocks their own
paragraphs (the text is the page's; Sphinx roles give their visible text).

Needs git copies of the three repositories (``fetch`` or ``git clone``; any clone holding the
pinned commits) and ``apt-get install libtasn1-doc shared-mime-info``:

    .venv/bin/python eval/real_docs/assemble.py --out eval/real_docs/corpus \
        --pip /work/.mirror/pypa+pip/repo --requests /work/.mirror/psf+requests/repo \
        --zlib /work/.mirror/madler+zlib/repo
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PIP_COMMIT = "6d309205789d368b2749d93fd6193d584811efd5"
REQUESTS_COMMIT = "1f6589ec3a1ee910f9a65cc3ceac60b26677bc0e"
ZLIB_COMMIT = "d201f04c72b0881220f5ba75ca19fd0e19fa848b"

PIP_FILES = {  # repository path -> corpus path
    "docs/html/getting-started.md": "md/pip-getting-started.md",
    "docs/html/installation.md": "md/pip-installation.md",
    "docs/html/topics/caching.md": "md/pip-caching.md",
    "docs/html/topics/configuration.md": "md/pip-configuration.md",
    "docs/html/topics/authentication.md": "md/pip-authentication.md",
    "docs/html/topics/vcs-support.md": "md/pip-vcs-support.md",
    "docs/html/topics/repeatable-installs.md": "md/pip-repeatable-installs.md",
    "docs/html/topics/secure-installs.md": "md/pip-secure-installs.md",
    "docs/html/topics/https-certificates.md": "md/pip-https-certificates.md",
    "docs/html/development/getting-started.rst": "rst/pip-development-getting-started.rst",
    "docs/html/development/architecture/configuration-files.rst": "rst/pip-configuration-files.rst",
    "docs/html/development/release-process.rst": "rst/pip-release-process.rst",
}
REQUESTS_FILES = {
    "docs/user/quickstart.rst": "rst/requests-quickstart.rst",
    "docs/user/authentication.rst": "rst/requests-authentication.rst",
    "docs/user/install.rst": "rst/requests-install.rst",
    "docs/community/faq.rst": "rst/requests-faq.rst",
    "docs/community/recommended.rst": "rst/requests-recommended.rst",
}
REQUESTS_AS_DOCX = {"docs/user/advanced.rst": "docx/requests-advanced-usage.docx"}
ZLIB_FILES = {
    "doc/rfc1952.txt": "txt/rfc1952-gzip-format.txt",
    "doc/algorithm.txt": "txt/zlib-algorithm.txt",
    "win32/DLL_FAQ.txt": "txt/zlib-win32-dll-faq.txt",
    "examples/zlib_how.html": "html/zlib-usage-example.html",
    "zlib.3.pdf": "pdf/zlib-manual-page.pdf",
}
COPIED = {
    Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.html/x34.html"): (
        "html/shared-mime-info-spec.html"
    ),
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"): "pdf/libtasn1-manual.pdf",
}
# Sphinx roles that docutils alone does not know: their visible text is kept.
SPHINX_ROLES = ("class", "meth", "func", "attr", "ref", "doc", "mod", "exc", "data", "term")


def from_git(repo: Path, commit: str, src: str) -> bytes:
    """A file's bytes at one commit of a git repository (a clone or a bare mirror)."""
    git_dir = repo / ".git" if (repo / ".git").exists() else repo
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{src}"],
        check=True,
        capture_output=True,
    ).stdout


def _visible_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Any,
    options: Any = None,
    content: Any = None,
) -> tuple[list[Any], list[Any]]:
    """A Sphinx cross-reference as the text a reader sees: `~a.B` -> B, `title <target>` ->
    title."""
    from docutils import nodes

    shown = text.split("<", 1)[0].strip() if text.endswith(">") else text
    if shown.startswith("~"):
        shown = shown[1:].rsplit(".", 1)[-1]
    return [nodes.literal(rawtext, shown)], []


def rst_to_docx(source: str, dest: Path) -> None:
    """A Word document from a reStructuredText page: headings by section depth, paragraphs,
    list items and literal blocks; comments, link targets and unknown directives left out."""
    import docx
    from docutils import nodes
    from docutils.core import publish_doctree
    from docutils.parsers.rst import roles

    for role in SPHINX_ROLES:
        roles.register_local_role(role, _visible_role)
    tree = publish_doctree(
        source,
        settings_overrides={"report_level": 5, "halt_level": 5, "doctitle_xform": False},
    )
    doc = docx.Document()
    skipped = (nodes.system_message, nodes.comment, nodes.target, nodes.substitution_definition)

    def walk(node: Any, depth: int) -> None:
        for child in node.children:
            if isinstance(child, nodes.section):
                title = " ".join(child[0].astext().split())
                if depth == 0 and not doc.core_properties.title:
                    doc.core_properties.title = title
                doc.add_heading(title, level=depth)
                walk(child, depth + 1)
            elif isinstance(child, (nodes.title, *skipped)):
                continue
            elif isinstance(child, nodes.literal_block):
                doc.add_paragraph(child.astext().rstrip("\n"), style="No Spacing")
            elif isinstance(child, (nodes.bullet_list, nodes.enumerated_list)):
                style = "List Bullet" if isinstance(child, nodes.bullet_list) else "List Number"
                for item in child.children:
                    doc.add_paragraph(" ".join(item.astext().split()), style=style)
            elif isinstance(child, (nodes.Admonition, nodes.block_quote, nodes.container)):
                walk(child, depth)
            elif text := " ".join(child.astext().split()):
                doc.add_paragraph(text)

    walk(tree, 0)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fixed = datetime(2026, 1, 1, tzinfo=UTC)  # the same bytes at every run (but the zip's)
    doc.core_properties.created = doc.core_properties.modified = fixed
    doc.save(str(dest))


def main() -> None:
    """Assemble the corpus under --out and print each file's size and SHA-256."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("eval/real_docs/corpus"))
    ap.add_argument("--pip", type=Path, required=True, help="a clone of pypa/pip")
    ap.add_argument("--requests", type=Path, required=True, help="a clone of psf/requests")
    ap.add_argument("--zlib", type=Path, required=True, help="a clone of madler/zlib")
    args = ap.parse_args()
    written: list[Path] = []

    def put(dest: str, data: bytes) -> None:
        path = args.out / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)

    for repo, commit, files in (
        (args.pip, PIP_COMMIT, PIP_FILES),
        (args.requests, REQUESTS_COMMIT, REQUESTS_FILES),
        (args.zlib, ZLIB_COMMIT, ZLIB_FILES),
    ):
        for src, dest in files.items():
            put(dest, from_git(repo, commit, src))
    for path, dest in COPIED.items():
        put(dest, path.read_bytes())
    for src, dest in REQUESTS_AS_DOCX.items():
        rst_to_docx(from_git(args.requests, REQUESTS_COMMIT, src).decode("utf-8"), args.out / dest)
        written.append(args.out / dest)
    for path in sorted(written):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:12]
        print(f"{path.relative_to(args.out)}  {len(data):>7,} bytes  sha256 {digest}")
    print(f"{len(written)} files, {sum(p.stat().st_size for p in written):,} bytes")


if __name__ == "__main__":
    main()
