"""Shared fixtures: one real index per run, a clean environment for every test."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.settings import ROOT, Settings, get_settings, offline_environment

offline_environment()

CORPUS = ROOT / "corpus"
EVALS = ROOT / "evals"
CHROMIUM = Path("/usr/bin/chromium")  # Debian's: Playwright cannot download a browser here (`make browser`)


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


# --- the web app, served for real (tests/test_api.py, tests/test_ui.py) -------------------------


@dataclass
class LiveServer:
    url: str
    app: Any  # the FastAPI app, for tests that look at its limiter


@pytest.fixture(scope="session")
def host_socket() -> Iterator[socket.socket]:
    """A bound loopback socket for the widget's host page (tests/test_widget.py): its origin is on the
    live server's CORS allowlist, so the port must be known before the app is made."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture(scope="session")
def live_server(settings: Settings, assistant, host_socket: socket.socket,  # type: ignore[no-untyped-def]
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The chat and the API served by uvicorn on 127.0.0.1 at a free port, once per run, sharing the session's
    Assistant. Tests that call it need `@pytest.mark.allow_hosts(["127.0.0.1"])` (pytest-socket)."""
    import threading
    import time

    import httpx
    import uvicorn

    from assistant.serve import create_app

    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    host_origin = f"http://127.0.0.1:{host_socket.getsockname()[1]}"
    app = create_app(settings.model_copy(update={"cors_origins": (host_origin,)}), assistant=assistant)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 60 s")
        time.sleep(0.2)
    yield LiveServer(url=url, app=app)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


# --- a real browser (tests/test_ui.py, test_widget.py, test_isolation.py, test_eval_product.py) ---------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """Playwright's sync API, once per test module (it runs its own event loop while open)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    """Headless Chromium, once per test module; each test opens its own context (no shared cookies)."""
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    yield launched
    launched.close()
