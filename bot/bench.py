"""`python -m bot bench`: the speed figures of BENCHMARKS.md, each a median with min and max.

Synthetic corpora (cached under cache_dir/bench): passages of two real SQuAD-dev sentences;
a sentence's vector is its real embedding (ONNX export), a passage's the normalised mean of its
two sentences' plus a little noise, so real questions meet realistic vectors and BM25 real text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import RetrievalSettings, Settings
from bot.errors import BotError

# The figures run_bench measures, in order (`bench --only NAME` runs one).
BENCH_STEPS = (
    "query_latency",
    "search_alone",
    "float16",
    "throughput",
    "memory",
    "cold_start",
    "index_build",
    "splitting",
    "late_interaction",
)
DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad-dev"
QUESTION = "How many Grammy nominations did Mr. Morale earn?"
MODEL = "all-MiniLM-L6-v2"


# ----------------------------------------------------------------------------- statistics


def summary(xs: list[float]) -> dict[str, float]:
    """Median, min, max, p50, p95 and count of measurements (in their own unit)."""
    if not xs:
        return {"n": 0}
    a = np.asarray(xs, dtype=np.float64)
    return {
        "median": float(np.median(a)),
        "min": float(a.min()),
        "max": float(a.max()),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "n": len(xs),
    }


def _keep_first(out: list[Any], fn: Callable[..., Any], *args: Any) -> None:
    """Call fn(*args) and keep the first item of what it returns (timed with the call)."""
    out.append(fn(*args)[0])


def timed(fn: Callable[[], Any]) -> float:
    """Seconds fn takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def recall_at(found: list[np.ndarray], truth: list[np.ndarray], k: int = 10) -> float:
    """Mean share of the true top k that was found."""
    return float(
        np.mean(
            [
                len(set(f[:k].tolist()) & set(t[:k].tolist())) / k
                for f, t in zip(found, truth, strict=True)
            ]
        )
    )


# ----------------------------------------------------------------------------- data


def _questions(n: int) -> list[str]:
    with (DATA / "questions.jsonl").open(encoding="utf-8") as fh:
        rows = [json.loads(line)["question"] for _, line in zip(range(n * 7), fh, strict=False)]
    return rows[::7][:n]  # spread over articles


def _sentence_pool(limit: int) -> list[str]:
    out: list[str] = []
    with (DATA / "passages.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]):
                if 40 <= len(s) <= 300:
                    out.append(s.strip())
    return out[:limit]


def query_encoder(settings: Settings) -> Any:
    """The ONNX embedder of the seeds index (exported into a temporary folder if absent)."""
    from bot.search.index import Index
    from bot.search.onnx_embedder import OnnxEmbedder

    index = Index.load(settings.index_dir)
    stamp = index.manifest.get("query_encoder")
    if stamp is None or index.folder is None:
        raise SystemExit("The seeds index has no ONNX query encoder; run: python -m bot index")
    return OnnxEmbedder(index.folder, stamp)


def _pool_vectors(settings: Settings, encoder: Any, pool: list[str]) -> np.ndarray:
    cache = settings.cache_dir / "bench" / f"pool-{len(pool)}.npy"
    if cache.exists():
        cached: np.ndarray = np.load(cache)
        return cached
    vecs: np.ndarray = encoder.embed(pool)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vecs)
    return vecs


# Synthetic indexes up to this size carry word-piece vectors, as a real index does by default;
# the figures of the other steps at larger sizes leave them out (the late_interaction step
# keeps them at every size).
TOKENS_UP_TO = 10_000
# Rows of synthetic word-piece codes generated and written at a time (they go straight to disk).
TOKEN_BLOCK = 1 << 22


def synthetic_index(
    settings: Settings,
    encoder: Any,
    n: int,
    *,
    sentence_vectors: bool,
    ann: bool,
    tokens: bool | None = None,
) -> Path:
    """An index folder of n synthetic passages (built once, then reused from the cache);
    with word-piece vectors when tokens says so (None: up to TOKENS_UP_TO passages with
    sentence vectors)."""
    from bot.ingest.corpus import Document
    from bot.search.ann import ANN_FILE, build_ann
    from bot.search.index import Index, IndexParams, packed_width, word_piece_rotation

    if tokens is None:
        tokens = sentence_vectors and n <= TOKENS_UP_TO
    tag = f"syn-{n}-{'s' if sentence_vectors else 'p'}{'t' if tokens else ''}"
    folder = settings.cache_dir / "bench" / tag
    if (folder / "CURRENT").exists():
        try:
            index = Index.load(folder)
            if not ann or "ann" in index.manifest:
                return folder
        except BotError:  # an older format or a damaged cache: build it again
            pass
    pool = _sentence_pool(4000)
    pv = _pool_vectors(settings, encoder, pool)
    rng = np.random.default_rng(n)
    per_doc = 10
    picks = rng.integers(0, len(pool), size=(n, 2))
    docs, passages, sentences = [], np.zeros((n, 5), np.int64), np.zeros((2 * n, 3), np.int64)
    for d in range(0, n, per_doc):
        parts, pos = [], 0
        for i in range(d, min(n, d + per_doc)):
            start = pos
            for j, s in enumerate(picks[i]):
                text = pool[s]
                sentences[2 * i + j] = (d // per_doc, pos, pos + len(text))
                parts.append(text)
                pos += len(text) + 1
            passages[i] = (d // per_doc, start, pos - 1, 2 * i, 2 * i + 2)
        text = " ".join(parts)
        docs.append(
            Document(f"syn/{d // per_doc}.txt", f"Synthetic {d // per_doc}", text, f"{d:064x}")
        )
    vectors = np.empty((n, pv.shape[1]), np.float32)
    for lo in range(0, n, 1 << 16):
        p = picks[lo : lo + (1 << 16)]
        v = (
            pv[p[:, 0]]
            + pv[p[:, 1]]
            + 0.02 * rng.standard_normal((len(p), pv.shape[1]), dtype=np.float32)
        )
        vectors[lo : lo + len(p)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    s_vectors = (
        pv[picks.reshape(-1)] if sentence_vectors else np.zeros((0, pv.shape[1]), np.float32)
    )
    token_vectors = token_scales = token_ranges = None
    scratch = folder.parent / f".{tag}-tokens.npy"
    if tokens:
        # Word-piece vectors for late-interaction re-ranking: their values only need to be unit
        # rows; their number (about one per 4.5 characters, as for English) sets the cost. The
        # codes of random unit rows (quantize_rows) are random bits with a scale near
        # sqrt(pi / (2 * dim)), so those are written directly, a block at a time, to disk.
        dim = pv.shape[1]
        chars = np.array([len(t) for t in pool])
        counts = (chars[picks[:, 0]] + chars[picks[:, 1]]) * 2 // 9 + 2
        ends = np.cumsum(counts)
        token_ranges = np.stack([ends - counts, ends], axis=1)
        total = int(ends[-1])
        scratch.parent.mkdir(parents=True, exist_ok=True)
        token_vectors = np.lib.format.open_memmap(
            scratch, mode="w+", dtype=np.uint8, shape=(total, packed_width(dim))
        )
        for lo in range(0, total, TOKEN_BLOCK):
            hi = min(total, lo + TOKEN_BLOCK)
            token_vectors[lo:hi] = rng.integers(0, 256, (hi - lo, packed_width(dim)), np.uint8)
        scale = np.sqrt(np.pi / (2 * dim))
        token_scales = (scale * (1 + 0.05 * rng.standard_normal(total))).astype(np.float16)
    params = IndexParams(MODEL, pv.shape[1], 256, 160, 0, True, tokens)
    index = Index(
        params,
        docs,
        passages,
        sentences,
        vectors,
        s_vectors,
        token_vectors=token_vectors,
        token_scales=token_scales,
        token_ranges=token_ranges,
        token_rotation=word_piece_rotation(pv.shape[1]) if tokens else None,
    )

    def extras(version: Path) -> dict[str, Any]:
        return {"ann": build_ann(vectors, version / ANN_FILE, threads=2)} if ann else {}

    index.save(folder, extras=extras)
    del index, token_vectors
    scratch.unlink(missing_ok=True)
    return folder


def _answerer(folder: Path, encoder: Any, retrieval: RetrievalSettings, settings: Settings) -> Any:
    from bot.answer.compose import Answerer
    from bot.search.index import Index

    return Answerer(Index.load(folder), encoder, retrieval, settings.answer)


# ----------------------------------------------------------------------------- figures


def cold_start(settings: Settings, repeats: int) -> dict[str, Any]:
    """A fresh `ask` process vs a bare sentence-transformers import, interleaved."""
    ask = [sys.executable, "-m", "bot", "ask", QUESTION]
    bare = [sys.executable, "-c", "import sentence_transformers"]
    subprocess.run(ask, check=True, capture_output=True)  # warm the page cache; rebuild if stale
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(lambda: subprocess.run(ask, check=True, capture_output=True)))
        b.append(timed(lambda: subprocess.run(bare, check=True, capture_output=True)))
    return {
        "ask_s": summary(a),
        "import_st_s": summary(b),
        "ratio": statistics.median(a) / statistics.median(b),
    }


def query_latency(
    settings: Settings, encoder: Any, sizes: list[int], questions: list[str]
) -> dict[str, Any]:
    """ask() latency (embed + search + compose), exact and (>= approximate_from) usearch."""
    out: dict[str, Any] = {}
    for n in sizes:
        big = n >= 1_000_000
        folder = synthetic_index(settings, encoder, n, sentence_vectors=not big, ann=n >= 100_000)
        modes = {"exact": RetrievalSettings(backend="exact", approximate_from=10**12)}
        if n >= 100_000:
            modes["usearch"] = RetrievalSettings(backend="usearch")
        for mode, retrieval in modes.items():
            answerer = _answerer(folder, encoder, retrieval, settings)
            for q in questions[:3]:
                answerer.ask(q)  # warm: page cache, BM25, ONNX
            ms = [1000 * timed(partial(answerer.ask, q)) for q in questions]
            out[f"{n}/{mode}"] = {
                "ms": summary(ms),
                "sentence_vectors": not big,
                "token_vectors": not big and n <= TOKENS_UP_TO,
            }
    return out


def search_alone(settings: Settings, encoder: Any, n: int, questions: list[str]) -> dict[str, Any]:
    """Dense top-10 at n: the bot's exact path and usearch path beside bare E @ q + argpartition."""
    from bot.search.ann import AnnIndex, approximate_search, exact_search
    from bot.search.index import Index

    folder = synthetic_index(settings, encoder, n, sentence_vectors=n < 1_000_000, ann=True)
    index = Index.load(folder)
    matrix = index.passage_vectors
    qs = encoder.embed(questions)

    def bare(q: np.ndarray) -> np.ndarray:
        s = matrix @ q
        return np.argpartition(s, -10)[-10:]

    for q in qs[:3]:
        bare(q)
    ours: list[float] = []
    base: list[float] = []
    truth: list[np.ndarray] = []
    for q in qs:
        base.append(1000 * timed(partial(bare, q)))
        ours.append(1000 * timed(partial(_keep_first, truth, exact_search, matrix, q, 10)))
    assert index.folder is not None
    ann = AnnIndex(index.folder / index.manifest["ann"]["file"])
    for q in qs[:3]:  # warm, as the bare product was: the graph file pages in on first use
        approximate_search(matrix, ann, q, 10)
    approx: list[float] = []
    found: list[np.ndarray] = []
    for q in qs:
        approx.append(
            1000 * timed(partial(_keep_first, found, approximate_search, matrix, ann, q, 10))
        )
    return {
        "passages": n,
        "exact_ms": summary(ours),
        "bare_matvec_argpartition_ms": summary(base),
        "exact_over_bare": statistics.median(ours) / statistics.median(base),
        "usearch_ms": summary(approx),
        "usearch_recall_at_10": recall_at(found, truth),
    }


def float16_recall(
    settings: Settings, encoder: Any, n: int, questions: list[str]
) -> dict[str, Any]:
    """recall@10 of float16 storage against float32 on the n-passage synthetic matrix."""
    from bot.search.ann import exact_search
    from bot.search.index import Index

    matrix = np.asarray(
        Index.load(
            synthetic_index(settings, encoder, n, sentence_vectors=True, ann=False)
        ).passage_vectors
    )
    half = matrix.astype(np.float16)
    qs = encoder.embed(questions)
    truth = [exact_search(matrix, q, 10)[0] for q in qs]
    found = [exact_search(half, q, 10)[0] for q in qs]
    return {"passages": n, "recall_at_10": recall_at(found, truth)}


def throughput(
    settings: Settings, encoder: Any, n: int, questions: list[str], repeats: int
) -> dict[str, Any]:
    """64 questions in flight through the Batcher vs one at a time through ask()."""
    from bot.answer.batching import Batcher

    answerer = _answerer(
        synthetic_index(settings, encoder, n, sentence_vectors=True, ann=False),
        encoder,
        settings.retrieval,
        settings,
    )
    qs = (questions * (64 // len(questions) + 1))[:64]
    for q in qs[:3]:
        answerer.ask(q)
    single = [1000 * timed(partial(answerer.ask, q)) for q in questions]
    # The model alone, beside: one question per call (the reference rate) and all 64 in
    # one call (the ceiling for any batching of this model on this machine).
    onnx_single = [1000 * timed(partial(encoder.embed, [q])) for q in questions]
    onnx_batch = [timed(lambda: encoder.embed(qs)) for _ in range(repeats)]

    async def flight() -> tuple[float, list[float]]:
        batcher = Batcher(answerer)
        lone: list[float] = []
        for q in questions[:20]:  # one question at a time through the batcher: its latency
            t = time.perf_counter()
            await batcher.ask(q)
            lone.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        await asyncio.gather(*(batcher.ask(q) for q in qs))
        elapsed = time.perf_counter() - t
        await batcher.aclose()
        return len(qs) / elapsed, lone

    rates, lone = [], []
    for _ in range(repeats):
        rate, lat = asyncio.run(flight())
        rates.append(rate)
        lone += lat
    return {
        "passages": n,
        "in_flight": 64,
        "questions_per_s": summary(rates),
        "single_ask_ms": summary(single),
        "single_via_batcher_ms": summary(lone),
        "latency_ratio": statistics.median(lone) / statistics.median(single),
        "model_alone_single_ms": summary(onnx_single),
        "model_alone_batch_questions_per_s": summary([len(qs) / t for t in onnx_batch]),
        # Throughput over the model's own one-question-at-a-time rate, measured in this run:
        # the 300 q/s against its ~400 q/s model-alone rate is 0.75.
        "ratio_to_model_alone": statistics.median(rates) / (1000 / statistics.median(onnx_single)),
    }


def passage_texts(index_dir: Path) -> list[str]:
    """What the model embeds for each passage of an index: the title line and the passage."""
    from bot.search.index import Index

    index = Index.load(index_dir)
    titles = [d.title for d in index.documents]
    return [
        f"{titles[int(index.passages[i, 0])]}\n{index.passage_text(i)}"
        if index.params.embed_titles
        else index.passage_text(i)
        for i in range(len(index))
    ]


def _pysbd_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans by pysbd (the splitter before sentencex), as chunking found them then."""
    from bot.ingest.chunking import _paragraphs

    seg = _pysbd()
    out = []
    for para in _paragraphs(text):
        body, cursor = text[para.start : para.end], 0
        for piece in seg.segment(body):
            needle = piece.strip()
            at = body.find(needle, cursor) if needle else -1
            if at >= 0:
                out.append((para.start + at, para.start + at + len(needle)))
                cursor = at + len(needle)
    return out


@cache
def _pysbd() -> Any:
    import pysbd  # the dev extras' baseline; the bot itself does not use it

    return pysbd.Segmenter(language="en", clean=False)


def splitting(repeats: int) -> dict[str, Any]:
    """Sentence splitting of SQuAD-dev's 1,545 passages (title, blank line, text) by the bot's
    splitter (sentencex) and by pysbd, alternating, same run; and how far their sentence ends
    agree (pysbd's as the reference)."""
    from bot.ingest.chunking import split_sentences

    rows = [json.loads(line) for line in (DATA / "passages.jsonl").open(encoding="utf-8")]
    texts = [f"{r['title']}\n\n{r['text']}" for r in rows]
    split_sentences("Warm up. Two.")
    ours, theirs, rates, ratios = [], [], [], []
    found_ours: list[list[tuple[int, int]]] = []
    found_theirs: list[list[tuple[int, int]]] = []
    try:
        _pysbd().segment("Warm up. Two.")
        baseline = True
    except ImportError:
        baseline = False
    for _ in range(repeats):
        t = time.perf_counter()
        found_ours = [[(s.start, s.end) for s in split_sentences(x)] for x in texts]
        ours.append(time.perf_counter() - t)
        if baseline:
            t = time.perf_counter()
            found_theirs = [_pysbd_spans(x) for x in texts]
            theirs.append(time.perf_counter() - t)
            ratios.append(theirs[-1] / ours[-1])
        rates.append(len(texts) / ours[-1])
    out: dict[str, Any] = {
        "passages": len(texts),
        "sentences": sum(map(len, found_ours)),
        "sentencex_s": summary(ours),
        "sentencex_passages_per_s": summary(rates),
    }
    if baseline:
        same = hits = extra = missed = 0
        for a, b in zip(found_theirs, found_ours, strict=True):
            ends_a, ends_b = {e for _, e in a}, {e for _, e in b}
            hits += len(ends_a & ends_b)
            extra += len(ends_b - ends_a)
            missed += len(ends_a - ends_b)
            same += a == b
        precision, recall = hits / (hits + extra), hits / (hits + missed)
        out |= {
            "pysbd_s": summary(theirs),
            "pysbd_sentences": sum(map(len, found_theirs)),
            "speedup_each": ratios,
            "speedup": statistics.median(ratios),
            "ends_precision": precision,
            "ends_recall": recall,
            "ends_f1": 2 * precision * recall / (precision + recall),
            "identical_passages": same,
        }
    return out


def index_build(settings: Settings, docs: int | None, repeats: int) -> dict[str, Any]:
    """Full build of `docs` squad-dev passages (None: all 1,545) as files, then re-index after
    one file changes.

    Each full build is followed by a bare SentenceTransformer.encode of the same passage
    texts: the ratio of the two rates is the build's speed over the model's own.
    """
    from bot.app import make_embedder, rebuild

    rows = [json.loads(line) for line in (DATA / "passages.jsonl").open(encoding="utf-8")]
    rows = rows[:docs] if docs is not None else rows
    full, pps, again, reembedded = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in rows:
            (root / "seeds").mkdir(exist_ok=True)
            (root / "seeds" / f"{r['id']}.txt").write_text(
                f"{r['title']}\n\n{r['text']}", encoding="utf-8"
            )
        s = dataclasses.replace(settings, seeds_dir=root / "seeds", index_dir=root / "index")
        embedder = make_embedder(s)
        embedder.embed(["warm up"])  # model load is start-up, not throughput
        bare: list[float] = []
        texts: list[str] = []
        for _ in range(repeats):
            secs = timed(lambda: full.append(rebuild(s, embedder, full=True, progress=False)))
            pps.append(full[-1].embedded_passages / secs)
            texts = texts or passage_texts(s.index_dir)
            model = getattr(embedder, "model", None)
            if model is not None:  # the model alone, same passages, same batch size
                batch = getattr(embedder, "batch_size", 32)
                bare.append(len(texts) / timed(partial(model.encode, texts, batch_size=batch)))
        for i in range(repeats):
            path = root / "seeds" / f"{rows[i * 37 % len(rows)]['id']}.txt"
            path.write_text(
                path.read_text(encoding="utf-8") + "\nOne more sentence was added here.",
                encoding="utf-8",
            )
            again.append(timed(lambda: reembedded.append(rebuild(s, embedder, progress=False))))
    last = full[-1]
    return {
        "documents": len(rows),
        "passages": last.embedded_passages,
        "sentences": last.embedded_sentences,
        "passages_per_s": summary(pps),
        "bare_encode_passages_per_s": summary(bare),
        # Median over median; and each build against the bare encode right after it.
        "build_over_bare_encode": statistics.median(pps) / statistics.median(bare)
        if bare
        else None,
        "build_over_bare_encode_each": [a / b for a, b in zip(pps, bare, strict=False)],
        "device": str(getattr(getattr(embedder, "model", None), "device", "n/a")),
        "reindex_one_changed_s": summary(again),
        "reindex_embedded_documents": [len(r.embedded_documents) for r in reembedded],
    }


def peak_rss(
    settings: Settings,
    n: int,
    folder: Path | None = None,
    *,
    backends: tuple[str, ...] = ("exact", "usearch"),
) -> dict[str, Any]:
    """Peak RSS of a fresh process that loads the n-passage index (the synthetic one of the
    other steps unless folder is given) and answers 20 questions."""
    if folder is None:
        folder = settings.cache_dir / "bench" / f"syn-{n}-{'p' if n >= 1_000_000 else 's'}"
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child of
    # this (large) bench process would report the parent's resident size at fork. That is
    # what an earlier run's unexplained 7.8 GB was.
    code = f"""
import resource, sys
from pathlib import Path
from bot.answer.compose import Answerer
from bot.bench import query_encoder, _questions
from bot.config import RetrievalSettings, load_settings
from bot.search.index import Index
s = load_settings(None)
r = RetrievalSettings(backend=sys.argv[1], approximate_from=int(sys.argv[2]))
a = Answerer(Index.load(Path({str(folder)!r})), query_encoder(s), r, s.answer)
for q in _questions(20):
    a.ask(q)
try:
    with open("/proc/self/status") as fh:
        print(next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")))
except OSError:  # not Linux: no exec carry-over to avoid
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    out: dict[str, Any] = {"passages": n}
    # "exact" must not switch to the graph at this size (approximate_from).
    for backend, switch in (("exact", 10**12), ("usearch", 1)):
        if backend not in backends:
            continue
        done = subprocess.run(
            [sys.executable, "-c", code, backend, str(switch)],
            check=True,
            capture_output=True,
            text=True,
        )
        out[f"{backend}_peak_rss_mb"] = int(done.stdout.split()[-1]) / 1024
    return out


def late_interaction(
    settings: Settings,
    encoder: Any,
    sizes: list[int],
    questions: list[str],
    *,
    ann: bool = True,
) -> dict[str, Any]:
    """Late interaction at scale: the n-passage synthetic index with word-piece vectors (1 bit
    a dimension, quantize_rows), its size on disk, ask() latency with re-ranking, exact and
    (with ann: the graph takes ~30 min at 1M on 2 cores) usearch, and the peak RSS of a fresh
    process answering with each."""
    from bot.search.index import Index

    out: dict[str, Any] = {}
    for n in sizes:
        t = time.perf_counter()
        folder = synthetic_index(
            settings, encoder, n, sentence_vectors=n < 1_000_000, ann=ann, tokens=True
        )
        made_s = time.perf_counter() - t
        index = Index.load(folder)
        assert index.folder is not None
        files = {p.name: p.stat().st_size for p in index.folder.rglob("*") if p.is_file()}
        pieces = sum(files[f"token_{name}.npy"] for name in ("vectors", "scales", "ranges"))
        row: dict[str, Any] = {
            "passages": n,
            "sentence_vectors": n < 1_000_000,
            "word_pieces": int(index.token_vectors.shape[0]),
            "build_or_cache_s": made_s,
            "disk_bytes": sum(files.values()),
            "word_piece_bytes": pieces,
            "word_piece_bytes_per_passage": pieces / n,
            "passage_vector_bytes": files["passage_vectors.npy"],
            "ann_bytes": files.get(index.manifest.get("ann", {}).get("file", ""), 0),
        }
        modes = {"exact": RetrievalSettings(backend="exact", approximate_from=10**12)}
        if "ann" in index.manifest:
            modes["usearch"] = RetrievalSettings(backend="usearch")
        del index
        # The same index and run without re-ranking: what the word pieces cost, as a ratio
        # that the machine's load does not move as much as the absolute times.
        plain = {f"{mode}_without_word_pieces": r for mode, r in modes.items()}
        plain = {m: dataclasses.replace(r, token_weight=0.0) for m, r in plain.items()}
        for mode, retrieval in (modes | plain).items():
            answerer = _answerer(folder, encoder, retrieval, settings)
            if answerer.retriever.uses_tokens != (mode in modes):
                raise BotError(f"{mode}: re-ranking by word pieces is not as intended")
            for q in questions[:3]:
                answerer.ask(q)
            ms = [1000 * timed(partial(answerer.ask, q)) for q in questions]
            row[f"{mode}_ms"] = summary(ms)
            del answerer
        for mode in modes:
            row[f"{mode}_over_without_word_pieces"] = (
                row[f"{mode}_ms"]["median"] / row[f"{mode}_without_word_pieces_ms"]["median"]
            )
        row |= peak_rss(settings, n, folder, backends=tuple(modes))
        out[str(n)] = row
    return out


# ----------------------------------------------------------------------------- driver


def _extraction_corpus(folder: Path, docs: int, pages_per_doc: int) -> dict[str, int]:
    """Write docs PDFs and docs HTML files of SQuAD-dev text, pages_per_doc pages each (a PDF
    page and an HTML page each hold three passages); needs fpdf2 (the dev extras)."""
    from fpdf import FPDF

    texts: list[str] = []
    with (DATA / "passages.jsonl").open(encoding="utf-8") as fh:
        for _, line in zip(range(docs * pages_per_doc * 3), fh, strict=False):
            texts.append(json.loads(line)["text"])
    per_page = [texts[i : i + 3] for i in range(0, len(texts), 3)]
    nav = "<nav><a href='/'>Home</a> <a href='/a'>Articles</a> <a href='/b'>About</a></nav>"
    for d in range(docs):
        pdf = FPDF()
        pdf.set_font("Helvetica", "", 10)
        for page in per_page[d * pages_per_doc : (d + 1) * pages_per_doc]:
            pdf.add_page()
            for para in page:
                # The core fonts are Latin-1; other characters would stop fpdf2.
                pdf.multi_cell(0, 5, para.encode("latin-1", "replace").decode("latin-1"))
                pdf.ln(3)
        pdf.output(str(folder / f"doc{d}.pdf"))
        for k, page in enumerate(per_page[d * pages_per_doc : (d + 1) * pages_per_doc]):
            body = "".join(f"<p>{para}</p>" for para in page)
            html = (
                f"<html><head><title>Page {d}-{k}</title></head><body>{nav}"
                f"<header>Site</header><main><h1>Page {k}</h1>{body}</main>"
                f"<footer>Footer</footer></body></html>"
            )
            (folder / f"page{d}-{k}.html").write_text(html, encoding="utf-8")
    return {"pdf_pages": docs * pages_per_doc, "html_pages": docs * pages_per_doc}


def extraction(docs: int = 10, pages_per_doc: int = 20, repeats: int = 3) -> dict[str, Any]:
    """Extraction throughput: PDF pages/s and HTML pages/s through the readers, and how fast
    an unchanged corpus is re-read from the extraction cache (files/s)."""
    from bot.ingest.corpus import load_corpus

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pdfs, htmls, cache = root / "pdf", root / "html", root / "cache"
        for folder in (pdfs, htmls):
            folder.mkdir()
        counts = _extraction_corpus(root, docs, pages_per_doc)
        for f in root.glob("*.pdf"):
            f.rename(pdfs / f.name)
        for f in root.glob("*.html"):
            f.rename(htmls / f.name)
        pdf_s = [timed(lambda: load_corpus(pdfs)) for _ in range(repeats)]
        html_s = [timed(lambda: load_corpus(htmls)) for _ in range(repeats)]
        load_corpus(pdfs, cache_dir=cache)
        load_corpus(htmls, cache_dir=cache)
        files = docs + counts["html_pages"]
        cached_s = [
            timed(lambda: (load_corpus(pdfs, cache_dir=cache), load_corpus(htmls, cache_dir=cache)))
            for _ in range(repeats)
        ]
    return {
        **counts,
        "pdf_pages_per_s": summary([counts["pdf_pages"] / t for t in pdf_s]),
        "html_pages_per_s": summary([counts["html_pages"] / t for t in html_s]),
        "cached_files_per_s": summary([files / t for t in cached_s]),
    }


def run_bench(
    settings: Settings,
    *,
    as_json: bool = False,
    quick: bool = False,
    only: list[str] | None = None,
) -> int:
    """Measure everything (or the steps named in only); print a table or one JSON object."""
    unknown = sorted(set(only or ()) - set(BENCH_STEPS))
    if unknown:
        raise BotError(f"No bench step {unknown[0]!r}; the steps are {', '.join(BENCH_STEPS)}")
    started = time.perf_counter()
    # The build figure needs no query encoder (nor a seeds index).
    build_only = only is not None and set(only) <= {"index_build", "splitting"}
    encoder = None if build_only else query_encoder(settings)
    questions = _questions(40 if quick else 200)
    sizes = [1_000, 10_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    big = sizes[-1]
    results: dict[str, Any] = {"quick": quick, "machine": _machine()}

    def step(name: str, fn: Callable[[], Any]) -> None:
        if only is not None and name not in only:
            return
        t = time.perf_counter()
        results[name] = fn()
        if not as_json:
            print(
                f"{name} ({time.perf_counter() - t:.0f} s):\n{json.dumps(results[name], indent=1)}",
                flush=True,
            )

    # Rarely-changing heavy steps first so cached synthetic indexes exist for the rest.
    step("query_latency", lambda: query_latency(settings, encoder, sizes, questions))
    step("search_alone", lambda: search_alone(settings, encoder, big, questions))
    step("float16", lambda: float16_recall(settings, encoder, 100_000, questions))
    step(
        "throughput",
        lambda: throughput(settings, encoder, 10_000, questions[:40], 3 if quick else 5),
    )
    step("memory", lambda: peak_rss(settings, big))
    step("cold_start", lambda: cold_start(settings, 3 if quick else 7))
    step("index_build", lambda: index_build(settings, 200 if quick else None, 2 if quick else 3))
    step("splitting", lambda: splitting(2 if quick else 3))
    step(
        "late_interaction",
        lambda: late_interaction(
            settings, encoder, [100_000] if quick else [100_000, 1_000_000], questions
        ),
    )
    step("extraction", lambda: extraction(5 if quick else 10, 20, 2 if quick else 3))
    results["total_s"] = time.perf_counter() - started
    if as_json:
        print(json.dumps(results))
    else:
        print(f"total {results['total_s']:.0f} s")
    return 0


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
