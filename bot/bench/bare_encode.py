"""`python -m bot.bench.bare_encode TEXTS.json [MODEL]`: load the sentence-transformers model,
then time one `encode` of the texts (a JSON list) and print {"seconds": ...}. The baseline a
whole-process `index` is measured against (bot.bench.process); it imports nothing of the bot
but the model's location."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

BATCH = 32  # as the bot's embedder encodes


def main(argv: list[str]) -> int:
    """Encode the texts in argv[0] with the model argv[1] (default: the bundled one)."""
    from sentence_transformers import SentenceTransformer

    from bot.search.embedder import resolve_model

    texts = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    model = SentenceTransformer(resolve_model(argv[1] if len(argv) > 1 else "")[1], device="cpu")
    model.encode(["warm up"])  # the model already loaded: only the encode is timed
    start = time.perf_counter()
    model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
    print(json.dumps({"seconds": time.perf_counter() - start, "texts": len(texts)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
