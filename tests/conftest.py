"""Shared fixtures: one real index per run, a clean environment for every test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from assistant.settings import ROOT, Settings, get_settings, offline_environment

offline_environment()

CORPUS = ROOT / "corpus"
EVALS = ROOT / "evals"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ASSISTANT_* variable from the shell leaks into a test, nor settings cached by another."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_"):
            monkeypatch.delenv(key)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A real Chroma index over the bundled corpus, built (and verified from a fresh process) once."""
    from assistant.index import build_index

    built = Settings(index_dir=tmp_path_factory.mktemp("index"))
    build_index(built)
    return built


@pytest.fixture(scope="session")
def index(settings: Settings):  # type: ignore[no-untyped-def]
    from assistant.index import open_index

    return open_index(settings)


@pytest.fixture(scope="session")
def retriever(settings: Settings, index):  # type: ignore[no-untyped-def]
    from assistant.retrieve import Retriever

    return Retriever(index, settings)


@pytest.fixture(scope="session")
def corpus():  # type: ignore[no-untyped-def]
    from assistant.ingest import load_corpus

    return load_corpus(CORPUS)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the corpus folder that a test may damage."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def assistant(settings: Settings):  # type: ignore[no-untyped-def]
    from assistant.conversation import Assistant

    return Assistant(settings)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite tests/golden from the current answers (read the diff before committing).")
