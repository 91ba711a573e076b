"""Assemble the real-documentation corpus that eval/real_docs/questions.jsonl asks about.

Development script. Nothing here is committed but the list of sources: the files are copied
from two public repositories and three Debian documentation packages, and three DOCX files
are made from real HTML pages (Python's HOWTOs: headings, paragraphs, lists and code kept).

Needs, before running:
- git mirrors of pypa/pip at PIP_COMMIT and psf/requests at REQUESTS_COMMIT (any clone works:
  ``git clone https://github.com/pypa/pip && git -C pip checkout PIP_COMMIT``), given with
  --pip and --requests (the folder holding the repository's .git or the bare repository);
- ``apt-get install python3.11-doc aptitude-doc-en camlidl-doc libtasn1-doc shared-mime-info``
  (Debian 12; the PDFs and HTML pages are read from /usr/share/doc).

    .venv/bin/python eval/real_docs/assemble.py --out cache/real-docs \
        --pip /work/.mirror/pypa+pip/repo --requests /work/.mirror/psf+requests/repo

Licences of the sources: pip MIT, requests Apache-2.0, Python documentation PSF-2.0,
aptitude GPL-2+, camlidl LGPL-2 (its manual), libtasn1 GFDL-1.3, shared-mime-info GPL-2+.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

PIP_COMMIT = "6d309205789d368b2749d93fd6193d584811efd5"
REQUESTS_COMMIT = "1f6589ec3a1ee910f9a65cc3ceac60b26677bc0e"

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
PYDOC = Path("/usr/share/doc/python3.11/html/howto")
APTITUDE = Path("/usr/share/doc/aptitude/html/en")
COPIED = {
    PYDOC / "sorting.html": "html/python-howto-sorting.html",
    PYDOC / "ipaddress.html": "html/python-howto-ipaddress.html",
    PYDOC / "unicode.html": "html/python-howto-unicode.html",
    APTITUDE / "ch01s01s03.html": "html/aptitude-finding-packages.html",
    APTITUDE / "ch01s01s05.html": "html/aptitude-updating.html",
    APTITUDE / "ch02s02s06.html": "html/aptitude-automatic-packages.html",
    APTITUDE / "ch02s06.html": "html/aptitude-minesweeper.html",
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"): "pdf/libtasn1.pdf",
    Path(
        "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"
    ): "pdf/shared-mime-info-spec.pdf",
    Path("/usr/share/doc/camlidl/camlidl-1.04.doc.pdf"): "pdf/camlidl.pdf",
}
AS_DOCX = {
    PYDOC / "sockets.html": "docx/python-sockets-howto.docx",
    PYDOC / "annotations.html": "docx/python-annotations-howto.docx",
    PYDOC / "urllib2.html": "docx/python-urllib-howto.docx",
}


def from_git(repo: Path, commit: str, files: dict[str, str], out: Path) -> None:
    """Copy files at one commit out of a git repository."""
    for src, dest in files.items():
        data = subprocess.run(
            ["git", "--git-dir", str(_git_dir(repo)), "show", f"{commit}:{src}"],
            check=True,
            capture_output=True,
        ).stdout
        (out / dest).parent.mkdir(parents=True, exist_ok=True)
        (out / dest).write_bytes(data)


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


def html_to_docx(src: Path, dest: Path) -> None:
    """A Word document from a Sphinx page's main content: headings keep their level, code
    blocks and list items their own paragraphs; navigation and permalinks are left out."""
    import docx
    import lxml.html

    tree = lxml.html.parse(str(src))
    body = tree.xpath('//div[@role="main"]')[0]
    for junk in body.xpath('.//a[@class="headerlink"]'):
        junk.drop_tree()
    doc = docx.Document()
    doc.core_properties.title = " ".join(tree.findtext(".//title").split()).split(" — ")[0]
    for el in body.iter("h1", "h2", "h3", "h4", "p", "pre", "li", "dt"):
        if el.tag == "p" and any(a.tag == "li" for a in el.iterancestors()):
            continue  # the list item's own paragraph carries it
        text = el.text_content()
        if el.tag == "pre":
            doc.add_paragraph(text.rstrip("\n"), style="No Spacing")
            continue
        text = " ".join(text.split())
        if not text:
            continue
        if el.tag[0] == "h":
            doc.add_heading(text, level=0 if el.tag == "h1" else int(el.tag[1]) - 1)
        elif el.tag == "li":
            doc.add_paragraph(text, style="List Bullet")
        else:
            doc.add_paragraph(text)
    dest.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(dest))


def main() -> None:
    """Assemble the corpus under --out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("cache/real-docs"))
    ap.add_argument("--pip", type=Path, required=True, help="a clone of pypa/pip")
    ap.add_argument("--requests", type=Path, required=True, help="a clone of psf/requests")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from_git(args.pip, PIP_COMMIT, PIP_FILES, args.out)
    from_git(args.requests, REQUESTS_COMMIT, REQUESTS_FILES, args.out)
    for src, dest in COPIED.items():
        (args.out / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, args.out / dest)
    for src, dest in AS_DOCX.items():
        html_to_docx(src, args.out / dest)
    files = sorted(p.relative_to(args.out).as_posix() for p in args.out.rglob("*") if p.is_file())
    by_kind: dict[str, int] = {}
    for f in files:
        kind = re.sub(r"/.*", "", f)
        by_kind[kind] = by_kind.get(kind, 0) + 1
    print(f"{len(files)} files in {args.out}: {by_kind}")


if __name__ == "__main__":
    main()
