"""How a user's `python -m bot index` compares with the model alone: the whole process (start,
imports, model load, reading, chunking, embedding, saving) on N SQuAD-dev passages written as
N files, against a bare sentence-transformers encode of the same texts in another process
with the model already loaded. Each repeat runs both, alternating, so both meet the same load.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.bench.data import passage_rows, write_passage_files
from bot.bench.stats import summary
from bot.config import Settings


def write_seeds(data: Path, root: Path, docs: int, settings: Settings) -> list[str]:
    """docs passages of data as files under root/seeds (title, blank line, text), and
    root/config.toml naming them, the index root/embeddings and the settings' cache folder
    and model; the files' texts."""
    texts = write_passage_files(passage_rows(data, docs), root / "seeds")
    config = {
        "seeds_dir": "seeds",
        "index_dir": "embeddings",
        "cache_dir": str(settings.cache_dir),
        "model": settings.model,
    }
    (root / "config.toml").write_text(
        "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items()), encoding="utf-8"
    )
    return texts


def index_once(root: Path) -> float:
    """Seconds `python -m bot index --config root/config.toml` takes from launch to exit, the
    index folder removed first (a full build, as a new user's first one)."""
    shutil.rmtree(root / "embeddings", ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot", "index", "--config", str(root / "config.toml")],
        check=True,
        capture_output=True,
        cwd=root,
    )
    return time.perf_counter() - start


def bare_once(texts_file: Path, model: str) -> float:
    """Seconds of a bare encode of the texts in texts_file, model loaded (its own process)."""
    out = subprocess.run(
        [sys.executable, "-m", "bot.bench.bare_encode", str(texts_file), model],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def stored_bytes(index_dir: Path) -> tuple[int, int]:
    """Bytes of the current version folder and of the whole index folder, the ONNX query
    encoder not counted (a link to the one cached export)."""
    from bot.search.store import current_version

    def size(files: Any) -> int:
        return sum(f.stat().st_size for f in files if f.is_file() and f.suffix != ".onnx")

    version = index_dir / str(current_version(index_dir))
    return size(version.rglob("*")), size(index_dir.rglob("*"))


def index_process(
    settings: Settings, data: Path, docs: int = 400, repeats: int = 3
) -> dict[str, Any]:
    """Whole-process `index` of docs SQuAD-dev passages as files against a bare encode of
    the passages the index embeds (title line and passage) and of the files' texts, each
    repeat running the three in turn; ratios are the encode's seconds over the build's
    (>= 1: the build is as fast as the model)."""
    from bot.search.store import Index

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = write_seeds(data, root, docs, settings)
        index_s = [index_once(root)]  # also gives the passage texts
        index = Index.load(root / "embeddings")
        passages = [index.lexical_text(i) for i in range(len(index))]
        (root / "passages.json").write_text(json.dumps(passages), encoding="utf-8")
        (root / "files.json").write_text(json.dumps(files), encoding="utf-8")
        bare_p, bare_f = [], []
        for r in range(repeats):
            if r:
                index_s.append(index_once(root))
            bare_p.append(bare_once(root / "passages.json", settings.model))
            bare_f.append(bare_once(root / "files.json", settings.model))
        sizes = stored_bytes(root / "embeddings")
    return {
        "documents": docs,
        "passages": len(passages),
        "index_s": summary(index_s),
        "bare_encode_passages_s": summary(bare_p),
        "bare_encode_files_s": summary(bare_f),
        "over_bare_passages_min": min(bare_p) / min(index_s),
        "over_bare_passages_median": statistics.median(bare_p) / statistics.median(index_s),
        "over_bare_passages_each": [b / i for b, i in zip(bare_p, index_s, strict=True)],
        "over_bare_files_min": min(bare_f) / min(index_s),
        "over_bare_files_median": statistics.median(bare_f) / statistics.median(index_s),
        "version_bytes_per_document": sizes[0] / docs,
        "index_folder_bytes_per_document": sizes[1] / docs,
    }
