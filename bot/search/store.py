"""The stored index: passages and sentences of a corpus with their vectors, BM25 and parts.

Layout of the index folder::

    CURRENT                     name of the live version folder (replaced atomically)
    v-<id>/manifest.json        format, IndexParams, one entry per source file, the parts
    v-<id>/documents.jsonl      each document's source, title, sha256, URL, text and layout
    v-<id>/passages.npy         int64 (N, 5): PassageRow fields
    v-<id>/sentences.npy        int64 (M, 3): SentenceRow fields
    v-<id>/passage_vectors.npy  float32 or float16 (N, dim), unit rows
    v-<id>/sentence_vectors.npy int8 (M, dim): unit rows over their scale; (0, dim) when off
    v-<id>/sentence_scales.npy  float32 (M,): each sentence row's scale (bot.search.quantize)
    v-<id>/token_vectors.npy    uint8 (T, dim / 8): every token of every passage, 1 bit a
                                dimension (bot.search.quantize)
    v-<id>/token_scales.npy     float16 (T,): each token row's scale
    v-<id>/token_ranges.npy     int64 (N, 2): each passage's rows of token_vectors
    v-<id>/bm25/                the lexical index
    v-<id>/query_encoder.onnx, ann.usearch: the parts (bot.search.parts)
    shared/rotation-<sha>.npy   float32 (dim, dim): the turn applied to tokens before quantizing
    shared/tokenizer-<sha>.json the query encoder's tokenizer

Files that are the same from one version to the next live once in shared/, named by their
content's hash; the manifest names them relative to its version folder ("../shared/...").
A save deletes those no version names any more.

A token is a word piece of the model's tokenizer; "token vectors" are the model's output for
each of them, kept for late-interaction re-ranking.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import ChunkingSettings
from bot.errors import IndexCorruptError, IndexMissingError, IndexOutdatedError
from bot.ingest.chunking import CHUNKING_VERSION
from bot.ingest.corpus import Document
from bot.ingest.readers import READER_VERSION
from bot.search.ann import ANN_FILE, build_ann
from bot.search.embedder import Embedder, TokenEmbedder
from bot.search.lexical import LexicalIndex
from bot.search.parts import AnnPart, QueryEncoderPart, from_stamp, to_stamp
from bot.search.quantize import dequantize_int8, packed_width, quantize_int8
from bot.search.rows import PassageRow, PassageTable, SentenceTable, TokenVectors

# The files' layout and meaning; an index of another format is rebuilt (CHANGELOG.md lists
# what each version changed).
FORMAT_VERSION = 10
POINTER = "CURRENT"
SHARED = "shared"


def lexical_text(doc: Document, start: int, end: int) -> str:
    """What BM25 indexes for the passage [start, end) of doc: its document's title and the
    passage. Not the headings above it, as the model reads (chunking.passage_lead): the words
    of a heading would then count once per passage of its section, and the answer to a
    heading's own words is its first passage, not any of them."""
    return f"{doc.title}\n{doc.text[start:end]}"


@dataclass(frozen=True)
class IndexParams:
    """Everything that decides the passage rows and vectors; a change means a full rebuild."""

    model: str
    dim: int
    max_tokens: int
    target_tokens: int
    overlap_sentences: int
    embed_titles: bool
    token_vectors: bool = False
    # Passages embedded under the headings they sit in (an index from before this was
    # recorded had none).
    embed_sections: bool = False
    # The document readers' version: other text for the same file means other rows.
    reader_version: int = READER_VERSION
    # The sentence splitter's and chunker's: other cuts of the same text, other rows.
    chunking_version: int = CHUNKING_VERSION


def params_for(embedder: Embedder, chunking: ChunkingSettings) -> IndexParams:
    """The IndexParams an index built now with this embedder and these settings would have."""
    return IndexParams(
        model=embedder.name,
        dim=embedder.dim,
        max_tokens=embedder.max_tokens,
        target_tokens=chunking.target_tokens,
        overlap_sentences=chunking.overlap_sentences,
        embed_titles=chunking.embed_titles,
        token_vectors=chunking.token_vectors and isinstance(embedder, TokenEmbedder),
        embed_sections=chunking.sections_embedded,
    )


# ----------------------------------------------------------------------------- the index


class Index:
    """Passages and sentences of a corpus with their vectors, BM25 index and parts."""

    def __init__(
        self,
        params: IndexParams,
        documents: list[Document],
        passages: PassageTable,
        sentences: SentenceTable,
        passage_vectors: np.ndarray,
        sentence_vectors: np.ndarray,
        tokens: TokenVectors | None = None,
        *,
        lexical: LexicalIndex | None = None,
        skipped: dict[str, str] | None = None,
    ) -> None:
        self.params = params
        self.documents = documents
        self.passages = passages
        self.sentences = sentences
        self.passage_vectors = passage_vectors
        # Stored as int8 codes and a scale a row; read as float32 on first use.
        self._sentence_vectors: np.ndarray | None = sentence_vectors
        self._sentence_codes: tuple[np.ndarray, np.ndarray] | None = None
        self.tokens = tokens if tokens is not None else TokenVectors.empty(params.dim)
        self.skipped = skipped or {}
        self._lexical = lexical
        # Set once the index is saved or loaded: its version folder and the parts it holds.
        self.folder: Path | None = None
        self.query_encoder: QueryEncoderPart | None = None
        self.ann: AnnPart | None = None

    def __len__(self) -> int:
        return len(self.passages)

    @property
    def sentence_vectors(self) -> np.ndarray:
        """(M, dim) float32 unit rows of the sentences ((0, dim): sentence scoring off)."""
        if self._sentence_vectors is None:
            assert self._sentence_codes is not None  # one of the two is always set
            self._sentence_vectors = dequantize_int8(*self._sentence_codes)
        return self._sentence_vectors

    @sentence_vectors.setter
    def sentence_vectors(self, vectors: np.ndarray) -> None:
        self._sentence_vectors, self._sentence_codes = vectors, None

    def sentence_rows(self, lo: int, hi: int) -> np.ndarray:
        """Sentence vectors lo to hi as float32, decoding only those (an update reuses an
        unchanged document's rows without decoding the whole matrix)."""
        if self._sentence_vectors is None and self._sentence_codes is not None:
            codes, scales = self._sentence_codes
            return dequantize_int8(codes[lo:hi], scales[lo:hi])
        return np.array(self.sentence_vectors[lo:hi], dtype=np.float32)

    def _sentence_shape(self) -> tuple[int, ...]:
        """The sentence matrix's shape, without reading it."""
        if self._sentence_codes is not None:
            return tuple(self._sentence_codes[0].shape)
        return tuple(self.sentence_vectors.shape)

    @property
    def version(self) -> str | None:
        """The name of the version folder this index was saved to or loaded from."""
        return self.folder.name if self.folder is not None else None

    @property
    def lexical(self) -> LexicalIndex:
        """The BM25 index, built on first use if it was not loaded or given."""
        if self._lexical is None:
            self._lexical = LexicalIndex.build([self.lexical_text(i) for i in range(len(self))])
        return self._lexical

    @lexical.setter
    def lexical(self, lexical: LexicalIndex) -> None:
        if lexical.size != len(self):
            raise ValueError(f"a BM25 index of {lexical.size} passages for {len(self)}")
        self._lexical = lexical

    def passage(self, i: int) -> PassageRow:
        """Row i of the passage table."""
        return self.passages[i]

    def passage_text(self, i: int) -> str:
        """The verbatim text of passage i."""
        row = self.passages[i]
        return self.documents[row.doc].text[row.start : row.end]

    def passage_document(self, i: int) -> Document:
        """The document passage i comes from."""
        return self.documents[int(self.passages.doc[i])]

    def lexical_text(self, i: int) -> str:
        """What BM25 indexes for passage i (lexical_text)."""
        row = self.passages[i]
        return lexical_text(self.passage_document(i), row.start, row.end)

    def sentence_ids(self, i: int) -> range:
        """Rows of the sentence table that make up passage i."""
        return self.passages[i].sentences

    def sentence_text(self, j: int) -> str:
        """The verbatim text of sentence j."""
        row = self.sentences[j]
        return self.documents[row.doc].text[row.start : row.end]

    # ------------------------------------------------------------------- saving

    def save(
        self,
        index_dir: Path,
        *,
        vector_dtype: str = "float32",
        query_encoder: Callable[[Path], QueryEncoderPart | None] | None = None,
        ann: bool = False,
    ) -> Path:
        """Write a new version folder, then switch CURRENT to it in one atomic rename.

        query_encoder(folder) writes the ONNX query encoder into the folder (None: it could
        not); ann builds the approximate index. vector_dtype is the storage type of the passage
        vectors ("float32" or "float16"); sentence vectors are kept as int8 codes with a scale
        a row. This index's own vectors take the stored values too, so it answers exactly as
        the saved one read back would. The caller holds the write lock.
        """
        index_dir.mkdir(parents=True, exist_ok=True)
        version = f"v-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = index_dir / f".tmp-{version}"
        tmp.mkdir()
        try:
            self.passage_vectors = np.asarray(self.passage_vectors, dtype=vector_dtype)
            codes = quantize_int8(self.sentence_vectors)
            self.sentence_vectors = dequantize_int8(*codes)
            encoder = query_encoder(tmp) if query_encoder is not None else None
            if encoder is not None:
                encoder = _share_tokenizer(tmp, encoder)
            graph = build_ann(self.passage_vectors, tmp / ANN_FILE) if ann and len(self) else None
            self._write(tmp, vector_dtype, codes, encoder, graph)
            final = index_dir / version
            tmp.rename(final)
            pointer_tmp = index_dir / f".{POINTER}.{version}"
            pointer_tmp.write_text(version + "\n", encoding="utf-8")
            _fsync(pointer_tmp)
            pointer_tmp.replace(index_dir / POINTER)
            _fsync_dir(index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.folder, self.query_encoder, self.ann = final, encoder, graph
        for old in index_dir.iterdir():
            if old.is_dir() and old.name != version and (old.name.startswith(("v-", ".tmp-"))):
                shutil.rmtree(old, ignore_errors=True)
        _collect_shared(index_dir)
        return final

    def _write(
        self,
        folder: Path,
        vector_dtype: str,
        sentence_codes: tuple[np.ndarray, np.ndarray],
        encoder: QueryEncoderPart | None,
        graph: AnnPart | None,
    ) -> None:
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            **asdict(self.params),
            "passages": len(self),
            "sentences": len(self.sentences),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "documents": [
                {"source": d.source, "title": d.title, "sha256": d.sha256} for d in self.documents
            ],
            "skipped": self.skipped,
            "vector_dtype": vector_dtype,
            "sentence_vector_dtype": "int8",
            "token_rotation": _share_array(folder, "rotation", self.tokens.rotation),
        }
        if encoder is not None:
            manifest["query_encoder"] = to_stamp(encoder)
        if graph is not None:
            manifest["ann"] = to_stamp(graph)
        with (folder / "documents.jsonl").open("w", encoding="utf-8") as fh:
            for d in self.documents:
                fh.write(json.dumps(d.to_json(), ensure_ascii=False) + "\n")
        arrays = {
            "passages": self.passages.rows,
            "sentences": self.sentences.rows,
            "passage_vectors": self.passage_vectors,
            "sentence_vectors": sentence_codes[0],
            "sentence_scales": sentence_codes[1],
            "token_vectors": np.asarray(self.tokens.bits, dtype=np.uint8),
            "token_scales": np.asarray(self.tokens.scales, dtype=np.float16),
            "token_ranges": np.asarray(self.tokens.ranges, dtype=np.int64),
        }
        for name, arr in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        self.lexical.save(folder / "bm25")
        # The manifest goes last: a folder without one is never a finished index.
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for path in folder.rglob("*"):
            if path.is_file():
                _fsync(path)
        _fsync_dir(folder.parent / SHARED)

    # ------------------------------------------------------------------- loading

    @classmethod
    def load(cls, index_dir: Path, *, mmap: bool = True) -> Index:
        """Read the current version. IndexMissingError: none yet; IndexOutdatedError: written
        by an older version of the bot; IndexCorruptError: damaged."""
        version = current_version(index_dir)
        if version is None:
            raise IndexMissingError(f"No index in {index_dir}. Build one with: python -m bot index")
        folder = index_dir / version
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            if manifest.get("format_version") != FORMAT_VERSION:
                raise IndexOutdatedError(
                    f"The index in {index_dir} was built by an older version of the bot "
                    f"(format {manifest.get('format_version')}; this version reads "
                    f"{FORMAT_VERSION})"
                )
            index = cls._read(folder, manifest, mmap=mmap)
        except (IndexOutdatedError, IndexCorruptError):
            raise
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(
                f"The index in {index_dir} is damaged ({type(exc).__name__}: {exc})"
            ) from exc
        index._check_shapes(index_dir)
        return index

    @classmethod
    def _read(cls, folder: Path, manifest: dict[str, Any], *, mmap: bool) -> Index:
        # An index from before the readers' version was recorded reads as version 0, so it is
        # rebuilt with today's readers; one from before embed_sections, as built without; one
        # from before the chunking version was recorded, as cut by its first.
        recorded_since = {"reader_version": 0, "embed_sections": False, "chunking_version": 1}
        params = IndexParams(
            **{
                f.name: manifest.get(f.name, recorded_since[f.name])
                if f.name in recorded_since
                else manifest[f.name]
                for f in fields(IndexParams)
            }
        )
        with (folder / "documents.jsonl").open(encoding="utf-8") as fh:
            documents = [Document.from_json(json.loads(line)) for line in fh]

        # The vector matrices are memory-mapped (start-up does not read them); the row tables
        # are small and read on every answer, so they are loaded: indexing a memmap costs
        # microseconds of Python per access, and an answer makes hundreds.
        def array(name: str, mapped: bool) -> np.ndarray:
            path = folder / f"{name}.npy"
            if mapped and mmap:
                return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
            return np.asarray(np.load(path, allow_pickle=False))

        passages = PassageTable(array("passages", False))
        rotation = np.load(folder / manifest["token_rotation"], allow_pickle=False)
        tokens = TokenVectors(
            array("token_vectors", True),
            array("token_scales", False),
            array("token_ranges", False),
            np.asarray(rotation, dtype=np.float32),
        )
        index = cls(
            params,
            documents,
            passages,
            SentenceTable(array("sentences", False)),
            array("passage_vectors", True),
            np.zeros((0, params.dim), np.float32),
            tokens,
            lexical=LexicalIndex.load(folder / "bm25", len(passages)),
            skipped=manifest.get("skipped", {}),
        )
        index._sentence_vectors = None
        index._sentence_codes = (array("sentence_vectors", True), array("sentence_scales", False))
        index.folder = folder
        if "query_encoder" in manifest:
            index.query_encoder = from_stamp(QueryEncoderPart, manifest["query_encoder"])
        if "ann" in manifest:
            index.ann = from_stamp(AnnPart, manifest["ann"])
        return index

    def _check_shapes(self, index_dir: Path) -> None:
        n, m, d = len(self), len(self.sentences), self.params.dim
        problems = []
        if self.passage_vectors.shape != (n, d):
            problems.append(f"passage_vectors is {self.passage_vectors.shape}, expected {(n, d)}")
        # (0, d) sentence vectors: sentence-level scoring off (large corpora), not damage.
        sentence_shape = self._sentence_shape()
        if sentence_shape not in ((m, d), (0, d)):
            problems.append(f"sentence_vectors is {sentence_shape}, expected {(m, d)}")
        if self._sentence_codes is not None and self._sentence_codes[1].shape != (
            sentence_shape[0],
        ):
            problems.append(f"sentence_scales is {self._sentence_codes[1].shape}, expected {(m,)}")
        if self.passages.rows.ndim != 2 or self.passages.rows.shape[1] != PassageTable.WIDTH:
            problems.append("passages table has the wrong shape")
        if self.sentences.rows.ndim != 2 or self.sentences.rows.shape[1] != SentenceTable.WIDTH:
            problems.append("sentences table has the wrong shape")
        if self.params.token_vectors:
            problems.extend(self._token_problems(n, d))
        if problems:
            raise IndexCorruptError(f"The index in {index_dir} is damaged: {'; '.join(problems)}")

    def _token_problems(self, n: int, d: int) -> list[str]:
        tok, problems = self.tokens, []
        t = len(tok)
        if tok.ranges.shape != (n, 2) or (n and int(tok.ranges[-1, 1]) != t):
            problems.append(f"token_ranges is {tok.ranges.shape}, expected {(n, 2)} ending at {t}")
        width = packed_width(d)
        if tok.bits.shape[1:] != (width,):
            problems.append(f"token_vectors is {tok.bits.shape}, expected (T, {width})")
        if tok.scales.shape != (t,):
            problems.append(f"token_scales is {tok.scales.shape}, expected ({t},)")
        if tok.rotation.shape != (d, d):
            problems.append(f"token_rotation is {tok.rotation.shape}, expected {(d, d)}")
        return problems


def _share_array(folder: Path, stem: str, array: np.ndarray) -> str:
    """array saved once in the shared folder beside folder, named by its content; its path
    relative to folder."""
    data = np.ascontiguousarray(array, dtype=np.float32)
    name = f"{stem}-{hashlib.sha256(data.tobytes()).hexdigest()[:32]}.npy"
    shared = folder.parent / SHARED
    if not (shared / name).is_file():
        shared.mkdir(exist_ok=True)
        tmp = shared / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        with tmp.open("wb") as fh:
            np.save(fh, data, allow_pickle=False)
        _fsync(tmp)
        tmp.replace(shared / name)
    return f"../{SHARED}/{name}"


def _share_tokenizer(folder: Path, part: QueryEncoderPart) -> QueryEncoderPart:
    """part with its tokenizer moved from folder to the shared folder (named by its hash)."""
    if part.tokenizer.startswith(f"../{SHARED}/"):
        return part
    local = folder / part.tokenizer
    name = f"tokenizer-{part.tokenizer_sha256[:32]}{local.suffix}"
    shared = folder.parent / SHARED
    shared.mkdir(exist_ok=True)
    if (shared / name).is_file():
        local.unlink()
    else:
        _fsync(local)
        local.replace(shared / name)
    return replace(part, tokenizer=f"../{SHARED}/{name}")


def _collect_shared(index_dir: Path) -> None:
    """Delete the shared files no version folder's manifest names (the caller holds the write
    lock, so no version is being written)."""
    shared = index_dir / SHARED
    if not shared.is_dir():
        return
    named: set[str] = set()
    for version in index_dir.glob("v-*"):
        try:
            manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        paths = [manifest.get("token_rotation"), manifest.get("query_encoder", {}).get("tokenizer")]
        named.update(Path(p).name for p in paths if isinstance(p, str))
    for path in shared.iterdir():
        if path.name not in named:
            with contextlib.suppress(OSError):
                path.unlink()


def current_version(index_dir: Path) -> str | None:
    """The name of the version folder CURRENT points to (None: no index yet); reads one line,
    so a process can tell whether another one has written a newer index without loading it."""
    try:
        return (index_dir / POINTER).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Some filesystems refuse fsync on folders; the rename is atomic all the same.
    with contextlib.suppress(OSError):
        _fsync(path)
