"""Export the documentation of the development set's sources (sources.toml beside this file)
into cache/dev13/docs/<owner>+<name>/, as training/mine_docs.py exports its own, with a
manifest of content hashes. Development script, not part of the package.

    .venv/bin/python eval/docs_dev_natural/export.py   # needs the snapshots: fetch github:<repo>
    .venv/bin/python eval/docs_dev.py --docs cache/dev13/docs \\
        --natural eval/docs_dev_natural/dev13.jsonl --try ""
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))

from mine_docs import DEVELOPMENT_SOURCES, export, load_sources  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=Path, default=DEVELOPMENT_SOURCES)
    ap.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--out", type=Path, default=ROOT / "cache" / "dev13" / "docs")
    ap.add_argument(
        "--manifest", type=Path, default=ROOT / "eval" / "docs_dev_natural" / "manifest.jsonl"
    )
    args = ap.parse_args(argv)
    rows = []
    for src in load_sources(args.sources, copyleft=True, development=True):
        got = export(src, args.mirror, args.out)
        print(f"{src.repo}: {len(got)} files, {sum(r['bytes'] for r in got):,} bytes")
        rows += got
    with args.manifest.open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
