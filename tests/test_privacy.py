"""Privacy canary: a question carrying a unique string goes through every way into the server (the API,
the tumour-board note, the export, errors, the Gradio chat in a real browser); then every file the server
could have written (its home, caches, temporary and Gradio folders, working folder, the index) and its log
are searched for that string. It is found nowhere, unless ASSISTANT_LOG_USER_TEXT says to log it."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from assistant.bench import ServerProcess
from assistant.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]

CHROMIUM = Path("/usr/bin/chromium")
FOLDERS = ("home", "cache", "config", "data", "state", "tmp", "gradio", "work", "index")


@dataclass
class Served:
    canary: str
    root: Path
    log: Path
    written: list[Path] = field(default_factory=list)  # every file under the folders, seen while serving
    holding: list[Path] = field(default_factory=list)  # files holding the canary while serving
    holding_after: list[Path] = field(default_factory=list)  # ... and after the server stopped
    index_before: dict[str, int] = field(default_factory=dict)
    index_after: dict[str, int] = field(default_factory=dict)
    chat_answered: bool = False


def _environment(root: Path) -> dict[str, str]:
    """Every place a library may write, inside `root`."""
    return {"HOME": str(root / "home"), "XDG_CACHE_HOME": str(root / "cache"), "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_DATA_HOME": str(root / "data"), "XDG_STATE_HOME": str(root / "state"), "TMPDIR": str(root / "tmp"),
            "GRADIO_TEMP_DIR": str(root / "gradio")}


def _files(root: Path) -> list[Path]:
    return sorted(p for name in FOLDERS for p in (root / name).rglob("*") if p.is_file() and not p.is_symlink())


def _holding(paths: list[Path], canary: str) -> list[Path]:
    needle = canary.encode()
    found = []
    for path in paths:
        try:
            if needle in path.read_bytes():
                found.append(path)
        except OSError:  # removed since it was listed (a temporary file)
            continue
    return found


def _listing(index: Path) -> dict[str, int]:
    return {p.relative_to(index).as_posix(): p.stat().st_size for p in index.rglob("*") if p.is_file()}


def _start(settings: Settings, root: Path, env: dict[str, str] | None = None) -> ServerProcess:
    for name in FOLDERS:
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / "index").rmdir()
    shutil.copytree(settings.index_dir, root / "index", ignore=shutil.ignore_patterns(".lock"))
    served = settings.model_copy(update={"index_dir": root / "index"})
    return ServerProcess(served, root / "server.log", env={**_environment(root), **(env or {})}, cwd=root / "work")


def _chat(url: str, question: str) -> bool:
    """The question typed into the chat and a correction sent from the facts panel, in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_context().new_page()
            page.goto(url + "/")
            page.wait_for_selector("#question textarea", timeout=60_000)
            page.fill("#question textarea", question)
            page.wait_for_timeout(200)
            page.keyboard.press("Enter")
            page.wait_for_function("document.querySelectorAll('#chat .bot-row').length > 0", timeout=60_000)
            page.fill("#correction textarea", f"HER2 is IHC 0 ({question.split()[-1]})")
            page.click("#send-correction")
            page.wait_for_function("document.querySelectorAll('#chat .bot-row').length > 1", timeout=60_000)
            shown: str = page.inner_text("#chat")
            return question.split()[-1] in shown
        finally:
            browser.close()


@pytest.fixture(scope="module")
def served(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Served:
    """The server with every writable place under one folder; the canary sent every way; files walked while it
    runs and again after it stopped."""
    canary = f"canary{uuid.uuid4().hex[:12]}"
    root = tmp_path_factory.mktemp("privacy")
    question = f"HER2-low ER-positive metastatic breast cancer after a CDK4/6 inhibitor, patient {canary}"
    result = Served(canary=canary, root=root, log=root / "server.log")
    server = _start(settings, root)
    result.index_before = _listing(root / "index")
    with server:
        url = server.url
        conversation = {"messages": [question, f"What next for {canary}?"]}
        assert httpx.post(url + "/api/answer", json=conversation, timeout=60).status_code == 200
        assert httpx.post(url + "/api/note", json={**conversation, "format": "html"}, timeout=60).status_code == 200
        assert httpx.post(url + "/api/note", json=conversation, timeout=60).status_code == 200
        assert httpx.get(url + "/api/note", params={"messages": conversation["messages"]}, timeout=60).status_code == 200
        assert httpx.post(url + "/api/export", json=conversation, timeout=60).status_code == 200
        # refusals: a body that is not JSON, a wrong shape, a message over the limit
        assert httpx.post(url + "/api/answer", content=f"{{{canary}", timeout=60,
                          headers={"Content-Type": "application/json"}).status_code == 400
        assert httpx.post(url + "/api/answer", json={"messages": canary}, timeout=60).status_code == 422
        assert httpx.post(url + "/api/answer", json={"messages": [canary * 3000]}, timeout=60).status_code == 413
        if CHROMIUM.exists():
            result.chat_answered = _chat(url, question)
        time.sleep(1.0)  # anything written asynchronously lands
        result.written = _files(root)
        result.holding = _holding([*result.written, result.log], canary)
    result.holding_after = _holding([*_files(root), result.log], canary)
    result.index_after = _listing(root / "index")
    return result


def test_no_file_the_server_wrote_and_no_log_line_holds_the_question(served: Served) -> None:
    outside_index = [p.relative_to(served.root) for p in served.written if not p.is_relative_to(served.root / "index")]
    print(f"files the server wrote outside the index while serving: {[str(p) for p in outside_index]}; "
          f"log {served.log.stat().st_size} bytes")
    assert served.holding == []
    assert served.holding_after == []
    log = served.log.read_text(errors="replace")
    assert "POST /api/answer" in log  # the access log was on: the log was really written
    assert "/api/note?…" in log  # GET /api/note lost its query string


def test_the_chat_was_used_in_a_real_browser(served: Served) -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: run `make browser` (make test does)")
    assert served.chat_answered  # the canary went through the Gradio chat and came back on the page


def test_the_server_writes_nothing_into_the_index_folder(served: Served) -> None:
    assert served.index_after == served.index_before


def test_with_log_user_text_the_question_is_in_the_log(settings: Settings, tmp_path: Path) -> None:
    canary = f"canary{uuid.uuid4().hex[:12]}"
    with _start(settings, tmp_path, env={"ASSISTANT_LOG_USER_TEXT": "true"}) as server:
        response = httpx.post(server.url + "/api/answer", timeout=60,
                              json={"messages": [f"What did the KATE2 trial find? ({canary})"]})
        assert response.status_code == 200
        time.sleep(0.5)
    log = server.log_path.read_text(errors="replace")
    assert _holding([server.log_path], canary) == [server.log_path]  # the search that found nothing above finds it
    assert f"turn 1: What did the KATE2 trial find? ({canary})" in log
