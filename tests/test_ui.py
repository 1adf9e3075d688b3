"""The chat in a real browser: Debian's Chromium, headless, driven by Playwright against the live server.

Each test asserts what a clinician sees: the options, the badges, the quotes, the facts, the export.
The browser tests also write the README's screenshots (docs/screenshots/), so those stay current.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.conversation import Assistant
from assistant.settings import ROOT, Settings
from tests.conftest import CHROMIUM, LiveServer

SHOTS = ROOT / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.allow_hosts(["127.0.0.1"]),
    pytest.mark.skipif(not CHROMIUM.exists() and shutil.which("chromium") is None,
                       reason="Debian's chromium is not installed: run `make browser` (make test does)"),
]

HER2_POSITIVE = ("HER2-positive metastatic breast cancer, progressed on trastuzumab, pertuzumab and docetaxel. "
                 "What is the next line?")
HER2_LOW = ("HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of "
            "chemotherapy. What next?")


class Chat:
    """One browser tab on the chat, with what it has seen: dialogs, page errors, requests elsewhere."""

    def __init__(self, page: Any, url: str) -> None:
        self.page, self.url = page, url
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:")) else self.foreign.append(r.url))
        page.goto(url + "/")
        page.wait_for_selector("#question textarea", timeout=60_000)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def bot_rows(self) -> int:
        count: int = self.page.locator("#chat .bot-row").count()
        return count

    def _wait_for_answer(self, before: int, timeout: int = 60_000) -> Any:
        self.page.wait_for_function(f"document.querySelectorAll('#chat .bot-row').length > {before}",
                                    timeout=timeout)
        return self.page.locator("#chat .bot-row").last

    def ask(self, text: str) -> Any:
        before = self.bot_rows()
        self.page.fill("#question textarea", text)
        self.page.wait_for_timeout(200)  # let the textbox's value reach Gradio's store before submitting
        self.page.keyboard.press("Enter")
        return self._wait_for_answer(before)

    def choose(self, option: str) -> Any:
        before = self.bot_rows()
        self.page.locator("#chat button.option", has_text=option).click()
        return self._wait_for_answer(before)

    def correct(self, text: str) -> Any:
        before = self.bot_rows()
        self.page.fill("#correction textarea", text)
        self.page.click("#send-correction")
        return self._wait_for_answer(before)


@pytest.fixture
def chat(browser: Any, live_server: LiveServer) -> Iterator[Chat]:
    context = browser.new_context(viewport={"width": 1400, "height": 1900}, accept_downloads=True)
    opened = Chat(context.new_page(), live_server.url)
    yield opened
    context.close()
    assert opened.errors == []
    assert opened.foreign == []  # nothing loaded from another origin


def test_a_scenario_shows_the_preferred_option_its_badge_and_the_quote_behind_it(
        chat: Chat, assistant: Assistant) -> None:
    expected = assistant.answer([HER2_POSITIVE])
    answer = chat.ask(HER2_POSITIVE)
    assert "Preferred: trastuzumab deruxtecan (T-DXd)" in answer.inner_text()
    badge = answer.locator(".evidence-badge").first
    assert badge.inner_text() == "Level I"
    assert "large randomised controlled trial" in badge.get_attribute("title")
    # sources: one closed block, a closed child per quote; opening them shows the verbatim passage
    first = expected.citations[0]
    assert first.quote[:60] not in answer.inner_text()
    answer.locator(".title", has_text=f"Sources ({len(expected.citations)})").click()
    child = answer.locator(".title", has_text=f"[{first.id}]").first
    child.click()
    quote = answer.locator("blockquote", has_text=first.quote[:60]).first
    quote.wait_for(timeout=10_000)
    assert first.quote[:200].replace("  ", " ") in re.sub(r"\s+", " ", quote.inner_text())
    assert "N. Engl. J. Med. 2022 [ref 7]" in answer.inner_text()  # DESTINY-Breast03's journal and year
    quote.scroll_into_view_if_needed()
    chat.page.wait_for_timeout(600)  # the block's opening transition
    assert quote.is_visible()
    chat.page.screenshot(path=str(SHOTS / "chat-recommendation.png"))
    # the legend explains the scale beside the chat
    assert "retrospective cohort studies" in chat.page.inner_text("#legend")


def test_a_follow_up_option_continues_the_conversation(chat: Chat) -> None:
    first = chat.ask(HER2_LOW)
    assert "Preferred: trastuzumab deruxtecan (T-DXd)" in first.inner_text()
    second = chat.choose("What if the tumour were HER2-ultralow?")
    assert "What if the tumour were HER2-ultralow?" in chat.page.locator("#chat .user-row").last.inner_text()
    assert "Preferred: sacituzumab govitecan (SG)" in second.inner_text()
    third = chat.choose("Why?")
    assert "Why sacituzumab govitecan" in third.inner_text() or "Why" in third.inner_text()


def test_correcting_a_fact_in_the_panel_sends_a_turn_and_changes_the_answer(chat: Chat) -> None:
    chat.ask(HER2_LOW)
    facts = chat.page.locator("#facts")
    assert re.search(r"HER2\s+low\s+“HER2-low”\s+1", facts.inner_text())
    answer = chat.correct("HER2 is IHC 0")
    assert "Correction: HER2 is IHC 0" in chat.page.locator("#chat .user-row").last.inner_text()
    assert "Preferred: sacituzumab govitecan (SG)" in answer.inner_text()
    assert re.search(r"HER2\s+zero\s+“IHC 0”\s+2", facts.inner_text())
    chat.page.locator("#facts-panel").screenshot(path=str(SHOTS / "facts-panel.png"))


def test_the_export_holds_the_conversation_and_the_same_answer_as_the_api_and_the_cli(
        chat: Chat, live_server: LiveServer, settings: Settings, tmp_path: Path) -> None:
    chat.ask(HER2_POSITIVE)
    with chat.page.expect_download() as download:
        chat.page.click("#export")
    target = tmp_path / "conversation.md"
    download.value.save_as(target)
    exported = target.read_text(encoding="utf-8")
    assert download.value.suggested_filename == "conversation.md"
    assert "## Question 1" in exported
    assert "DESTINY-Breast03" in exported
    in_chat = json.loads(re.findall(r"```json\n(.*?)\n```", exported, flags=re.S)[-1])
    over_http = httpx.post(live_server.url + "/api/answer", json={"messages": [HER2_POSITIVE]}, timeout=60).json()
    result = CliRunner().invoke(cli, ["ask", HER2_POSITIVE, "--json"],
                                env={"ASSISTANT_INDEX_DIR": str(settings.index_dir)})
    assert in_chat == over_http == json.loads(result.output)


def test_markup_typed_as_a_question_shows_as_text_and_runs_nothing(chat: Chat) -> None:
    payload = '<img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=2;alert(2)</script>**HER2-low**'
    chat.ask(payload)
    shown = chat.page.locator("#chat .user-row").last.inner_text()
    assert '<img src=x onerror="window.__pwned=1;alert(1)">' in shown
    assert "<script>" in shown
    chat.ask('<svg onload="alert(3)"></svg> HER2-low metastatic breast cancer [x](javascript:alert(4))')
    chat.page.wait_for_timeout(500)
    assert chat.dialogs == []
    assert chat.page.evaluate("window.__pwned === undefined")
    assert chat.page.locator("#chat img[src='x'], #chat svg[onload], #chat a[href^='javascript']").count() == 0


def test_about_shows_use_source_counts_scale_evals_and_limits(chat: Chat, assistant: Assistant) -> None:
    chat.page.get_by_role("tab", name="About").click()
    about = chat.page.locator("#about")
    about.get_by_text("Intended use.").wait_for()
    text = about.inner_text()
    assert "Impact of HER2-targeting antibody drug conjugates" in text
    assert f"{len(assistant.rules)} recommendation rules and {len(assistant.index.cards)} study cards" in text
    assert assistant.corpus_version in text
    assert "14 July 2024" in text or "2024-07-14" in text
    assert "retrospective cohort studies" in text
    assert "blind4.jsonl" in text
    assert "Limitations." in text
    assert "How to check an answer." in text
    chat.page.screenshot(path=str(SHOTS / "about.png"), full_page=True)


def test_new_conversation_starts_over_and_tabs_do_not_share_a_conversation(chat: Chat, browser: Any,
                                                                           live_server: LiveServer) -> None:
    chat.ask(HER2_POSITIVE)
    other = Chat(browser.new_context().new_page(), live_server.url)
    try:
        assert other.bot_rows() == 0
        reply = other.ask("What next?")
        assert "trastuzumab deruxtecan" not in reply.inner_text().lower() or "HER2-positive" not in other.page.inner_text("#facts")
        assert "No patient facts" in other.page.inner_text("#facts") or "HER2" not in other.page.inner_text("#facts")
    finally:
        other.page.context.close()
    chat.page.click("#new-conversation")
    chat.page.wait_for_function("document.querySelectorAll('#chat .bot-row').length === 0")
    chat.page.locator("#facts", has_text="No patient facts read yet.").wait_for(timeout=10_000)
    reply = chat.ask("What is the next line?")
    assert "Preferred:" not in reply.inner_text()


def test_the_chatbots_clear_button_forgets_the_conversation_too(chat: Chat) -> None:
    chat.ask(HER2_LOW)
    chat.page.locator("#chat button[aria-label='Clear']").click()
    chat.page.wait_for_function("document.querySelectorAll('#chat .bot-row').length === 0")
    chat.page.locator("#facts", has_text="No patient facts read yet.").wait_for(timeout=10_000)
    reply = chat.ask("HER2 is IHC 0")
    assert "Preferred:" not in reply.inner_text()  # no earlier turn replayed: the case is incomplete


def test_a_link_with_a_case_opens_the_chat_with_it_typed_in(browser: Any, live_server: LiveServer) -> None:
    """The CDS card's link (?q=...) fills the question box; nothing is sent until the clinician sends it."""
    page = browser.new_context().new_page()
    try:
        page.goto(live_server.url + "/?q=HER2-low%20MBC%20after%20chemotherapy")
        page.wait_for_selector("#question textarea", timeout=60_000)
        page.wait_for_function("(document.querySelector('#question textarea') || {value: ''}).value.length > 0",
                               timeout=30_000)
        assert page.input_value("#question textarea") == "HER2-low MBC after chemotherapy"
        assert page.locator("#chat .bot-row").count() == 0
    finally:
        page.context.close()
