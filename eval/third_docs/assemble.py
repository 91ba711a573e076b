"""Assemble the third documentation set in eval/third_docs/corpus (see README.md).

Development script: it records how each file was obtained, and rebuilds the folder. Files are
copied unchanged from BurntSushi/ripgrep, restic/restic, sharkdp/bat and junegunn/fzf at the
pinned commits below; the html/ files are Markdown pages of the same repositories rendered by
markdown-it-py (CommonMark with tables) and wrapped in a minimal HTML page, since none of these
projects ships HTML documentation. Needs git copies of the four repositories (``fetch`` or
``git clone``; any clone holding the pinned commits):

    .venv/bin/python eval/third_docs/assemble.py --out eval/third_docs/corpus \
        --ripgrep /work/.mirror/BurntSushi+ripgrep/repo --restic /work/.mirror/restic+restic/repo \
        --bat /work/.mirror/sharkdp+bat/repo --fzf /work/.mirror/junegunn+fzf/repo
"""

from __future__ import annotations

import argparse
import html
import subprocess
from pathlib import Path

COMMITS = {
    "ripgrep": "3fce3b5bb0236da2df6d99672afb8a719642eca7",
    "restic": "a80be1478a4c537f8396e0db2b05120aa78f11e0",
    "bat": "2ba8db9c14e5794572f5ea338c2b90404c9769cb",
    "fzf": "956562daaa82ddf55ea8f7aeab56883377b742c6",
}

COPIED = {  # project -> {repository path: corpus path}
    "ripgrep": {
        "GUIDE.md": "md/ripgrep-GUIDE.md",
        "README.md": "md/ripgrep-README.md",
        "crates/globset/README.md": "md/ripgrep-globset-README.md",
        "crates/ignore/README.md": "md/ripgrep-ignore-README.md",
    },
    "bat": {
        "README.md": "md/bat-README.md",
        "doc/alternatives.md": "md/bat-alternatives.md",
        "doc/long-help.txt": "txt/bat-long-help.txt",
        "doc/short-help.txt": "txt/bat-short-help.txt",
    },
    "fzf": {
        "README.md": "md/fzf-README.md",
        "BUILD.md": "md/fzf-BUILD.md",
        "doc/fzf.txt": "txt/fzf-vim-help.txt",
    },
    "restic": {
        f"doc/{name}.rst": f"rst/restic-{name}.rst"
        for name in (
            "010_introduction",
            "020_installation",
            "030_preparing_a_new_repo",
            "040_backup",
            "045_working_with_repos",
            "047_tuning_parameters",
            "050_restore",
            "060_forget",
            "070_encryption",
            "075_scripting",
            "077_troubleshooting",
            "080_examples",
            "cache",
            "faq",
            "manual_rest",
            "REST_backend",
        )
    },
}

RENDERED = {  # project -> {repository path: (corpus path, title)}
    "ripgrep": {"FAQ.md": ("html/ripgrep-FAQ.html", "ripgrep FAQ")},
    "fzf": {"ADVANCED.md": ("html/fzf-ADVANCED.html", "Advanced fzf examples")},
    "bat": {"doc/assets.md": ("html/bat-assets.html", "bat: using custom assets")},
    "restic": {"README.md": ("html/restic-README.html", "restic")},
}


def show(repo: Path, commit: str, path: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={repo}", "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
    ).stdout


def render(markdown: str, title: str) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n<main>\n{body}</main>\n"
        "</body>\n</html>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    for project in COMMITS:
        parser.add_argument(f"--{project}", type=Path, required=True, help="git directory")
    args = parser.parse_args()
    for project, files in COPIED.items():
        repo = getattr(args, project)
        for source, target in files.items():
            out = args.out / target
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(show(repo, COMMITS[project], source))
            print(f"{target}\t{project}@{COMMITS[project][:7]}:{source}")
    for project, files in RENDERED.items():
        repo = getattr(args, project)
        for source, (target, title) in files.items():
            out = args.out / target
            out.parent.mkdir(parents=True, exist_ok=True)
            text = show(repo, COMMITS[project], source).decode("utf-8")
            out.write_text(render(text, title), encoding="utf-8")
            print(f"{target}\t{project}@{COMMITS[project][:7]}:{source} (rendered)")


if __name__ == "__main__":
    main()
