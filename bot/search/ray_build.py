"""Building the index on a Ray cluster (the optional extra: pip install -e '.[ray]').

Ray Data streams the files through three stages: their bytes are read on this machine's
node (where the seeds folder is), their text is extracted on CPU tasks anywhere in the
cluster, and an actor pool of embedders (one a GPU where the cluster has them, else one a
CPU) turns each batch of documents into its rows with ``build_index`` itself: the same
chunking, vectors, pooling and quantized tokens as a local build. This machine then gathers
the batches, puts the documents in the local build's order and runs ``build_index`` over
them, every row reused, which adds BM25; the index is saved as a local build saves it.

Use::

    from functools import partial
    from bot.app import make_embedder
    from bot.search.ray_build import build_on_ray

    index, report = build_on_ray(settings, partial(make_embedder, settings), address="auto")

``make`` builds the embedder on each actor (and once here, for the model's name and size and
the query encoder's export), so it and what it returns must be picklable: every node runs
the same quotebot, installed with the extra, and reads the model at the same path.
"""

from __future__ import annotations

import dataclasses
import errno
import inspect
import logging
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from bot.config import ChunkingSettings, Settings
from bot.errors import BotError, ConfigError, CorpusError
from bot.ingest.corpus import Document, Selection, content_hash, discover, read_document, read_file
from bot.ingest.readers import UnreadableError
from bot.search.ann import wants_ann
from bot.search.build import BuildReport, build_index
from bot.search.embedder import Embedder
from bot.search.lock import unwritable, write_lock
from bot.search.onnx_embedder import export_query_encoder
from bot.search.rows import PassageTable, SentenceTable, TokenVectors
from bot.search.store import Index, IndexParams, params_for

log = logging.getLogger(__name__)

INSTALL_HINT = "install it with pip install -e '.[ray]'"
# Files per read and extraction task.
FILE_BATCH = 16
# Documents per embedder call: a GPU wants many passages at once; on a CPU a small batch
# spreads a small corpus over every actor.
GPU_BATCH = 256
CPU_BATCH = 32


def import_ray() -> ModuleType:
    """The ray module, with Ray Data; BotError saying how to install it when it is missing."""
    try:
        import ray
        import ray.data  # the extra installs ray[data]; a bare ray lacks it
    except ImportError as exc:
        raise BotError(f"--ray needs Ray Data ({exc}); {INSTALL_HINT}") from exc
    return ray


@dataclasses.dataclass
class Shard:
    """What an embedder actor returns for a batch of documents: their rows (document numbers
    from 0 in the batch), vectors and quantized tokens, and the files it could not read."""

    params: IndexParams | None
    documents: list[Document]
    passages: PassageTable
    sentences: SentenceTable
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray
    tokens: TokenVectors | None
    # Source: the reason, and the hash of its bytes ("" when they could not be read).
    unreadable: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, index: Index, unreadable: dict[str, tuple[str, str]]) -> Shard:
        """index's rows, without its BM25 (built once, over every passage, by the gatherer)."""
        return cls(
            index.params,
            index.documents,
            index.passages,
            index.sentences,
            index.passage_vectors,
            index.sentence_vectors,
            index.tokens if index.params.token_vectors else None,
            unreadable,
        )


def _read_files(batch: dict[str, np.ndarray], seeds_dir: str) -> dict[str, list[Any]]:
    """The bytes of each file of batch["source"]; an OSError's reason in "error"."""
    data, errors = [], []
    for source in batch["source"]:
        try:
            data.append(read_file(Path(seeds_dir) / str(source)))
            errors.append("")
        except OSError as exc:
            data.append(b"")
            errors.append(exc.strerror or str(exc))
    return {"source": list(batch["source"]), "data": data, "error": errors}


def _extract(batch: dict[str, np.ndarray], seeds_dir: str) -> dict[str, list[Any]]:
    """Each file of the batch read as a Document (pickled), or the reason it cannot be (and,
    when its bytes were read, their hash: an unchanged bad file does not make the index stale)."""
    root = Path(seeds_dir)
    documents, errors, hashes = [], [], []
    for source, data, unread in zip(batch["source"], batch["data"], batch["error"], strict=True):
        document, error, sha = b"", str(unread), ""
        if not unread:
            try:
                document = pickle.dumps(read_document(root / str(source), root, data=bytes(data)))
            except UnreadableError as exc:
                error, sha = str(exc), content_hash(bytes(data))
        documents.append(document)
        errors.append(error)
        hashes.append(sha)
    return {"source": list(batch["source"]), "document": documents, "error": errors, "sha": hashes}


class ShardBuilder:
    """A Ray Data actor: one embedder, loaded once, building the rows of batches of documents."""

    def __init__(self, make: Callable[[], Embedder], chunking: ChunkingSettings) -> None:
        self.embedder = make()
        self.chunking = chunking

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        """The batch's Shard, pickled (one row)."""
        documents, unreadable = [], {}
        for source, document, error, sha in zip(
            batch["source"], batch["document"], batch["error"], batch["sha"], strict=True
        ):
            if error:
                unreadable[str(source)] = (str(error), str(sha))
            else:
                documents.append(pickle.loads(bytes(document)))
        if not documents:
            nothing = np.zeros(0)
            empty = Shard(None, [], PassageTable(), SentenceTable(), nothing, nothing, None)
            return {"shard": [pickle.dumps(dataclasses.replace(empty, unreadable=unreadable))]}
        index, _ = build_index(documents, self.embedder, self.chunking)
        return {"shard": [pickle.dumps(Shard.of(index, unreadable))]}


def embedder_pool(resources: dict[str, float]) -> dict[str, Any]:
    """map_batches arguments for the embedder actors on a cluster with these resources: one
    actor a GPU when it has GPUs, else up to one a CPU (one thread each)."""
    from ray.data import ActorPoolStrategy

    gpus = int(resources.get("GPU", 0))
    if gpus:
        pool = ActorPoolStrategy(min_size=gpus, max_size=gpus)
        return {"compute": pool, "num_gpus": 1, "batch_size": GPU_BATCH}
    cpus = max(1, int(resources.get("CPU", 1)))
    pool = ActorPoolStrategy(min_size=1, max_size=cpus)
    return {"compute": pool, "num_cpus": 1, "batch_size": CPU_BATCH}


def _shards(
    ray: ModuleType,
    settings: Settings,
    make: Callable[[], Embedder],
    sources: list[str],
) -> Iterator[Shard]:
    """Each batch's Shard as the cluster finishes it (in no particular order)."""
    seeds = str(settings.seeds_dir)
    ds = ray.data.from_items([{"source": s} for s in sources])
    ds = ds.map_batches(
        _read_files,
        fn_kwargs={"seeds_dir": seeds},
        batch_size=FILE_BATCH,
        batch_format="numpy",
        # Reading is mostly waiting for the disk; and a stage of its own size is never fused
        # with the next ones (which Ray Data would pin to this machine too).
        num_cpus=0.5,
        **_on_this_node(ray, ds.map_batches),  # the seeds folder is on this machine
    )
    ds = ds.map_batches(
        _extract, fn_kwargs={"seeds_dir": seeds}, batch_size=FILE_BATCH, batch_format="numpy"
    )
    ds = ds.map_batches(
        ShardBuilder,
        fn_constructor_args=(make, settings.chunking),
        batch_format="numpy",
        **embedder_pool(ray.cluster_resources()),
    )
    for row in ds.iter_rows():
        yield pickle.loads(row["shard"])


def _on_this_node(ray: ModuleType, map_batches: Callable[..., Any]) -> dict[str, Any]:
    """map_batches arguments that run its tasks on this machine's node: a label selector
    where Ray Data takes one (it deprecates the scheduling strategy), else the strategy."""
    node = ray.get_runtime_context().get_node_id()
    if "label_selector" in inspect.signature(map_batches).parameters:
        return {"label_selector": {"ray.io/node-id": node}}
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}


def gather(shards: list[Shard], params: IndexParams) -> Index:
    """One index of every shard's documents, in the order the shards came."""
    documents: list[Document] = []
    passages, sentences, p_vectors, s_vectors = [], [], [], []
    bits, scales, ranges = [], [], []
    rotation = TokenVectors.empty(params.dim).rotation
    sentence_base = token_base = 0
    for shard in shards:
        if shard.params is None:
            continue
        if shard.params != params:
            raise ConfigError(
                f"The cluster's embedder builds {shard.params}, this machine's {params}: "
                "install the same quotebot and model on every node"
            )
        p_rows, s_rows = shard.passages.rows.copy(), shard.sentences.rows.copy()
        PassageTable(p_rows).doc[:] += len(documents)
        PassageTable(p_rows).sentence_ranges[:] += sentence_base
        SentenceTable(s_rows).doc[:] += len(documents)
        documents.extend(shard.documents)
        passages.append(p_rows)
        sentences.append(s_rows)
        p_vectors.append(shard.passage_vectors)
        s_vectors.append(shard.sentence_vectors)
        sentence_base += s_rows.shape[0]
        if shard.tokens is not None:
            rotation = shard.tokens.rotation
            bits.append(shard.tokens.bits)
            scales.append(shard.tokens.scales)
            ranges.append(shard.tokens.ranges + token_base)
            token_base += len(shard.tokens)
    empty = TokenVectors.empty(params.dim)
    tokens = TokenVectors(
        np.concatenate(bits or [empty.bits]),
        np.concatenate(scales or [empty.scales]),
        np.concatenate(ranges or [empty.ranges]),
        rotation,
    )
    dim = params.dim
    return Index(
        params,
        documents,
        PassageTable(np.concatenate(passages) if passages else None),
        SentenceTable(np.concatenate(sentences) if sentences else None),
        np.concatenate(p_vectors) if p_vectors else np.zeros((0, dim), np.float32),
        np.concatenate(s_vectors) if s_vectors else np.zeros((0, dim), np.float32),
        tokens if params.token_vectors else None,
    )


def _connect(ray: ModuleType, address: str | None, *, verbose: bool) -> bool:
    """Join the cluster at address (None: the one on this machine, else a new local
    instance); True when this call started the connection (and so ends it). Unless verbose,
    Ray says only what went wrong: its notes and plans are noise in a terminal tool."""
    quiet = logging.INFO if verbose else logging.ERROR
    # Ray Data logs a failed task's traceback at ERROR before raising it: the raise is enough.
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.CRITICAL)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = verbose
    context.enable_auto_log_stats = False
    if ray.is_initialized():
        return False
    ray.init(address=address, logging_level=quiet, log_to_driver=verbose)
    return True


def build_on_ray(
    settings: Settings,
    make: Callable[[], Embedder],
    *,
    address: str | None = None,
    progress: bool = True,
    verbose: bool = False,
) -> tuple[Index, BuildReport]:
    """Build the index of settings.seeds_dir on the Ray cluster at address (None: the one on
    this machine, else a new local instance), save it, and return it with what the build did.

    Every document is embedded (a full build). make() gives the embedder, here and on each
    actor. progress shows one bar of the files done; verbose, Ray's own logs and bars too.
    """
    ray = import_ray()
    embedder = make()
    if settings.chunking.target_tokens > embedder.max_tokens:
        raise ConfigError(
            f"chunking.target_tokens must be at most the model's window of "
            f"{embedder.max_tokens} tokens, not {settings.chunking.target_tokens}"
        )
    params = params_for(embedder, settings.chunking)
    sources = [
        p.relative_to(settings.seeds_dir).as_posix()
        for p in discover(settings.seeds_dir, Selection.of(settings))
    ]
    with write_lock(settings.index_dir):
        shards = _on_cluster(
            ray, settings, make, sources, address=address, progress=progress, verbose=verbose
        )
        index = _assemble(settings, embedder, params, shards, sources)
        _save(settings, embedder, index)
    report = BuildReport(
        [d.source for d in index.documents], [], [], len(index), len(index.sentences)
    )
    return index, report


def _on_cluster(
    ray: ModuleType,
    settings: Settings,
    make: Callable[[], Embedder],
    sources: list[str],
    *,
    address: str | None,
    progress: bool,
    verbose: bool,
) -> list[Shard]:
    """Every batch's Shard, from the cluster at address, under one bar of the files done.
    A failure on the cluster is a BotError with Ray's last word (-v: Ray's whole account)."""
    from tqdm import tqdm

    started = _connect(ray, address, verbose=verbose)
    shards = []
    try:
        with tqdm(
            total=len(sources),
            desc=f"Indexing {settings.seeds_dir.name}/ on Ray",
            unit=" files",
            disable=None if progress else True,
        ) as bar:
            for shard in _shards(ray, settings, make, sources):
                shards.append(shard)
                bar.update(len(shard.documents) + len(shard.unreadable))
    except ray.exceptions.RayError as exc:
        if verbose:
            raise
        last = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise BotError(
            f"The build on Ray failed: {last[-1] if last else type(exc).__name__} "
            "(-v shows Ray's own account)"
        ) from exc
    finally:
        if started:
            ray.shutdown()
    return shards


def _assemble(
    settings: Settings,
    embedder: Embedder,
    params: IndexParams,
    shards: list[Shard],
    sources: list[str],
) -> Index:
    """The index a local build makes of the shards' documents: in the local build's order,
    the files that could not be read skipped (each named in a warning), BM25 built."""
    skipped: dict[str, str] = {}
    reasons: list[str] = []
    for shard in shards:
        for source, (reason, sha) in shard.unreadable.items():
            log.warning("Skipping %s: %s.", source, reason)
            reasons.append(f"{source}: {reason}")
            if sha:
                skipped[source] = sha
    gathered = gather(shards, params)
    shards.clear()  # their rows are in gathered now: at most two copies of the index at once
    if not gathered.documents:
        more = f"; and {len(reasons) - 5} more" if len(reasons) > 5 else ""
        raise CorpusError(
            f"No readable document in {settings.seeds_dir}: {'; '.join(reasons[:5])}{more}."
        )
    order = {source: i for i, source in enumerate(sources)}
    documents = sorted(gathered.documents, key=lambda d: order[d.source])
    # Every document's rows are reused from gathered: nothing is embedded here.
    index, report = build_index(
        documents, embedder, settings.chunking, previous=gathered, skipped=skipped
    )
    assert not report.embedded_documents, "the gathered rows were not reused"
    return index


def _save(settings: Settings, embedder: Embedder, index: Index) -> None:
    """Save index as a local build does: with the query encoder, and the graph when wanted."""

    def encoder(folder: Path) -> Any:
        try:
            return export_query_encoder(embedder, folder, settings.cache_dir)
        except Exception as exc:  # an optimisation: the index works without it
            log.warning("Could not export the ONNX query encoder (%s).", exc)
            return None

    try:
        index.save(
            settings.index_dir,
            vector_dtype=settings.retrieval.storage_dtype,
            query_encoder=encoder,
            ann=wants_ann(len(index), settings.retrieval),
        )
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise unwritable(settings.index_dir, exc) from exc
        raise
