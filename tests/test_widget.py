"""The embeddable widget on examples/host.html in headless Chromium: answers, badges, citations, follow-ups;
the host page keeps its styles and scripts; markup runs nothing; an origin off the allowlist gets no answer."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from assistant.settings import ROOT
from tests.conftest import LiveServer
from tests.test_ui import CHROMIUM, SHOTS, pytestmark  # noqa: F401 - same markers: browser, loopback only

HER2_LOW = ("HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of "
            "chemotherapy. What next?")


def _serve_host_page(sock: socket.socket, assistant_url: str) -> ThreadingHTTPServer:
    """examples/host.html with the snippet's https://HOST pointed at the live assistant."""
    page = (ROOT / "examples" / "host.html").read_text(encoding="utf-8").replace("https://HOST", assistant_url)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(sock.getsockname(), Handler, bind_and_activate=False)
    server.socket = sock
    server.server_activate()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def host_url(live_server: LiveServer, host_socket: socket.socket) -> Iterator[str]:
    server = _serve_host_page(host_socket, live_server.url)
    yield f"http://127.0.0.1:{host_socket.getsockname()[1]}/host.html"
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()


def _open(browser: Any, url: str) -> tuple[Any, list[str], list[str]]:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.locator("[data-her2-adc-widget] .toggle").wait_for()
    return page, dialogs, errors


REPLIES = "[data-her2-adc-widget] .log > .bot, [data-her2-adc-widget] .log > .error"


def _wait_reply(page: Any, before: int) -> Any:
    """The host page's CSP forbids evaluating strings, so wait with locators (they pierce the shadow root)."""
    reply = page.locator(REPLIES).nth(before)
    reply.wait_for(timeout=60_000)
    return reply


def _ask(page: Any, text: str) -> Any:
    before = page.locator(REPLIES).count()
    page.locator("[data-her2-adc-widget] textarea").fill(text)
    page.locator("[data-her2-adc-widget] textarea").press("Enter")
    return _wait_reply(page, before)


def test_the_widget_answers_on_the_host_page_and_leaves_the_host_alone(browser: Any, host_url: str) -> None:
    page, dialogs, errors = _open(browser, host_url)
    title_colour = page.eval_on_selector("#host-title", "e => getComputedStyle(e).color")
    assert title_colour == "rgb(120, 20, 60)"
    page.locator("[data-her2-adc-widget] .toggle").click()
    log = page.locator("[data-her2-adc-widget] [role=log]")
    assert log.get_attribute("aria-live") == "polite"
    answer = _ask(page, HER2_LOW)
    assert "Preferred: trastuzumab deruxtecan (T-DXd)" in answer.inner_text()
    badge = answer.locator(".badge").first
    assert badge.inner_text() == "Level I"
    assert "large randomised controlled trial" in badge.get_attribute("title")
    answer.locator("summary", has_text="Sources").click()
    citation = answer.locator("details.citation").first
    citation.locator("summary").click()
    assert citation.locator("blockquote").is_visible()
    assert "DESTINY-Breast04" in citation.inner_text() or "review" in citation.inner_text().lower()
    page.screenshot(path=str(SHOTS / "widget-host-page.png"))
    follow = page.locator("[data-her2-adc-widget] .options button", has_text="What if the tumour were HER2-ultralow?")
    before = page.locator(REPLIES).count()
    follow.click()
    assert "Preferred: sacituzumab govitecan (SG)" in _wait_reply(page, before).inner_text()
    # the host page: its styles unchanged, its script still runs; Escape closes the panel
    page.click("#host-button")
    assert page.inner_text("#host-counter") == "1"
    assert page.eval_on_selector("#host-title", "e => getComputedStyle(e).color") == title_colour
    page.locator("[data-her2-adc-widget] textarea").press("Escape")
    assert page.locator("[data-her2-adc-widget] .panel").is_hidden()
    assert dialogs == []
    assert errors == []


def test_markup_in_a_question_runs_nothing_in_the_widget(browser: Any, host_url: str) -> None:
    page, dialogs, _ = _open(browser, host_url)
    page.locator("[data-her2-adc-widget] .toggle").click()
    _ask(page, '<img src=x onerror="alert(1)"><script>alert(2)</script> HER2-low metastatic breast cancer')
    page.wait_for_timeout(300)
    assert dialogs == []
    shown = page.locator("[data-her2-adc-widget] .user").last.inner_text()
    assert '<img src=x onerror="alert(1)">' in shown
    assert page.locator("[data-her2-adc-widget] img").count() == 0


def test_a_page_from_an_origin_not_on_the_allowlist_gets_no_answer(browser: Any, live_server: LiveServer) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = _serve_host_page(sock, live_server.url)
    try:
        page, _, _ = _open(browser, f"http://127.0.0.1:{sock.getsockname()[1]}/host.html")
        page.locator("[data-her2-adc-widget] .toggle").click()
        reply = _ask(page, HER2_LOW)
        assert reply.inner_text() == "The assistant could not be reached from this page."
        assert page.locator("[data-her2-adc-widget] .bot").count() == 0
    finally:
        server.shutdown()
        sock.close()


def test_a_cds_card_renders_as_an_ehr_would_show_it(browser: Any, live_server: LiveServer) -> None:
    """The card of the order-select call drawn the way an EHR's CDS panel shows one (Markdown detail, no HTML)."""
    import html
    import json

    import httpx
    from markdown_it import MarkdownIt

    from tests.test_cds import FIXTURES, her2_low_patient

    body = json.loads((FIXTURES / "order-select-spec.json").read_text())
    body["prefetch"] = her2_low_patient()
    card = httpx.post(f"{live_server.url}/cds-services/her2-adc-guidance", json=body, timeout=60).json()["cards"][0]
    detail = MarkdownIt("commonmark", {"html": False}).render(card["detail"])
    colour = {"info": "#0b5cad", "warning": "#b35c00", "critical": "#a00"}[card["indicator"]]
    link = card["links"][0]
    page_html = f"""<!doctype html><html><head><meta charset="utf-8"><style>
      body{{font:14px system-ui,sans-serif;margin:0;background:#eef1f4}}
      .bar{{background:#2b3a4a;color:#fff;padding:10px 16px}} .order{{margin:16px;padding:12px;background:#fff}}
      .card{{margin:0 16px 16px;background:#fff;border-left:6px solid {colour};padding:10px 14px}}
      .summary{{font-weight:700;font-size:15px}} .source{{color:#555;font-size:12px}}
      .link{{display:inline-block;margin-top:8px;padding:6px 10px;border:1px solid {colour};color:{colour}}}
    </style></head><body><div class="bar">EHR · Patient 1288992 · Order entry</div>
    <div class="order">Draft order: <b>trastuzumab deruxtecan</b> (selected)</div>
    <div class="card"><div class="indicator">{html.escape(card["indicator"].upper())}</div>
    <div class="summary">{html.escape(card["summary"])}</div><div class="detail">{detail}</div>
    <div class="source">Source: {html.escape(card["source"]["label"])}</div>
    <a class="link" href="{html.escape(link["url"])}">{html.escape(link["label"])}</a></div></body></html>"""
    page = browser.new_context(viewport={"width": 900, "height": 1000}).new_page()
    page.set_content(page_html)
    assert page.inner_text(".summary") == card["summary"]
    assert "ESMO evidence level" in page.inner_text(".detail")
    page.screenshot(path=str(SHOTS / "cds-card.png"), full_page=True)
    page.context.close()
