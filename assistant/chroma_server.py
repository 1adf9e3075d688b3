"""A Chroma server as the vector store, for an index shared by many replicas (ASSISTANT_CHROMA_URL).

Each replica keeps the build folder (the texts, cards and checksums, about 1 MB) and reads the vectors
from the server. Collections on the server carry the build's corpus_version in their name, so a new
build is pushed beside the old one and replicas switch when their CURRENT does; two corpus versions
never mix. The server has no authentication of its own and chromadb up to 1.5.9 has a pre-auth
code-injection advisory (CVE-2026-45829): bind it to 127.0.0.1 or a private network only (docs/deploy.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.errors import VectorStoreError
from assistant.settings import Settings

_BATCH = 500  # below chromadb's maximum batch size


def server_collection(collection: str, corpus_version: str) -> str:
    """The server-side name of one build's collection: the same texts always land in the same place."""
    return f"{collection}-{corpus_version}"


def server_client(settings: Settings) -> Any:
    """An HttpClient for settings.chroma_url; VectorStoreError when the URL is wrong or nothing answers."""
    import chromadb

    from assistant.index import chroma_settings, is_store_error

    url = settings.chroma_url or ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise VectorStoreError(f"ASSISTANT_CHROMA_URL must look like http://127.0.0.1:8000 (got {url[:80]!r}).")
    try:
        client = chromadb.HttpClient(host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 80),
                                     ssl=parts.scheme == "https", settings=chroma_settings())
        client.heartbeat()
    except BaseException as exc:
        if not (is_store_error(exc) or isinstance(exc, ValueError)):
            raise
        raise VectorStoreError(f"The Chroma server at {parts.scheme}://{parts.netloc} does not answer "
                               f"({type(exc).__name__}). Start it (docs/deploy.md) or unset ASSISTANT_CHROMA_URL.") from None
    return client


def server_store(settings: Settings, collection: str, corpus_version: str, embedder: Any) -> Any:
    """The build's collection on the server, through langchain-chroma, its errors as VectorStoreError."""
    from langchain_chroma import Chroma

    from assistant.index import GuardedStore, is_store_error

    name = server_collection(collection, corpus_version)
    client = server_client(settings)
    try:
        store = Chroma(collection_name=name, embedding_function=embedder, client=client,
                       create_collection_if_not_exists=False)
    except BaseException as exc:
        if not (is_store_error(exc) or isinstance(exc, ValueError)):
            raise
        raise VectorStoreError(f"The Chroma server holds no collection {name} ({type(exc).__name__}). "
                               "Load the current build into it: assistant index push") from None
    return GuardedStore(store, f"{name} on {settings.chroma_url}")


def push_build(settings: Settings) -> dict[str, int]:
    """Copy the current build's vectors (not re-embedded: the same numbers) to the server; idempotent.

    Returns the vectors each server collection holds afterwards.
    """
    import chromadb

    from assistant.index import chroma_settings, is_store_error, open_index

    local = open_index(settings.model_copy(update={"chroma_url": None}))
    assert local.workdir is not None
    source = chromadb.PersistentClient(path=local.workdir.name, settings=chroma_settings())
    client = server_client(settings)
    held: dict[str, int] = {}
    try:
        for collection in (settings.collection_name, f"{settings.collection_name}-sentences",
                           f"{settings.collection_name}-keys"):
            records: Any = source.get_collection(collection).get(include=["embeddings", "documents", "metadatas"])
            name = server_collection(collection, local.corpus_version)
            target = client.get_or_create_collection(name, configuration={"hnsw": {"space": "cosine"}})
            if target.count() != len(records["ids"]):
                client.delete_collection(name)  # a half-pushed collection from an interrupted push
                target = client.create_collection(name, configuration={"hnsw": {"space": "cosine"}})
                for start in range(0, len(records["ids"]), _BATCH):
                    end = start + _BATCH
                    target.add(ids=records["ids"][start:end], embeddings=records["embeddings"][start:end],
                               documents=records["documents"][start:end], metadatas=records["metadatas"][start:end])
            held[name] = target.count()
    except BaseException as exc:
        if not is_store_error(exc):
            raise
        raise VectorStoreError(f"Loading the build into the Chroma server failed ({type(exc).__name__}). "
                               "Check the server and run: assistant index push") from None
    finally:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    return held


def chroma_command(path: Path, port: int) -> list[str]:
    """The command that starts a Chroma server on loopback only (the documented one, used by the test)."""
    return ["chroma", "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
