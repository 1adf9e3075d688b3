"""Two clinicians at once: two browser contexts (separate sessions, as two people) chat with the live server
concurrently about different patients; neither page ever shows the other's words, and a third, new session
shows neither."""

from __future__ import annotations

import shutil
import uuid
from typing import Any

import pytest

from tests.conftest import CHROMIUM, LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                       reason="Debian's chromium is not installed: run `make browser` (make test does)"),
]


def _open(browser: Any, url: str) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 1900}).new_page()
    page.goto(url + "/")
    page.wait_for_selector("#question textarea", timeout=60_000)
    return page


def _send(page: Any, text: str) -> int:
    """Types and sends without waiting for the answer (so the two sessions' turns overlap); the rows before."""
    before: int = page.locator("#chat .bot-row").count()
    page.fill("#question textarea", text)
    page.wait_for_timeout(200)  # the textbox's value reaches Gradio's store before submitting
    page.keyboard.press("Enter")
    return before


def _wait(page: Any, before: int) -> None:
    page.wait_for_function(f"document.querySelectorAll('#chat .bot-row').length > {before}", timeout=60_000)


def test_two_sessions_at_once_never_see_each_others_patient(browser: Any, live_server: LiveServer) -> None:
    alpha, bravo = f"alpha{uuid.uuid4().hex[:8]}", f"bravo{uuid.uuid4().hex[:8]}"
    turns = {
        alpha: [f"Patient {alpha}: HER2-positive metastatic breast cancer, progressed on trastuzumab, pertuzumab "
                "and docetaxel. What is the next line?",
                f"She also has stable brain metastases after radiotherapy ({alpha}).",
                f"Why? ({alpha})"],
        bravo: [f"Patient {bravo}: HER2 IHC 0, ER-negative, PR-negative metastatic breast cancer after two lines "
                "of chemotherapy. What next?",
                f"No brain metastases on the last MRI ({bravo}).",
                f"Why? ({bravo})"],
    }
    pages = {alpha: _open(browser, live_server.url), bravo: _open(browser, live_server.url)}
    try:
        for turn in range(3):
            sent = {name: _send(page, turns[name][turn]) for name, page in pages.items()}  # both in flight
            for name, page in pages.items():
                _wait(page, sent[name])
            for name, page in pages.items():
                other = bravo if name == alpha else alpha
                shown = page.inner_text("body")
                assert name in shown
                assert other not in shown, f"{name}'s page shows {other}'s words after turn {turn + 1}"
        facts = {name: page.inner_text("#facts") for name, page in pages.items()}
        assert "positive" in facts[alpha]
        assert "zero" in facts[bravo]
        assert "trastuzumab deruxtecan" in pages[alpha].locator("#chat .bot-row").nth(0).inner_text()
        assert "sacituzumab govitecan" in pages[bravo].locator("#chat .bot-row").nth(0).inner_text()

        newcomer = _open(browser, live_server.url)  # a third person opening the chat now sees neither
        newcomer.wait_for_timeout(500)
        shown = newcomer.inner_text("body")
        assert alpha not in shown
        assert bravo not in shown
        assert newcomer.locator("#chat .bot-row").count() == 0
        newcomer.context.close()
    finally:
        for page in pages.values():
            page.context.close()
