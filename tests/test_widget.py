"""The embeddable widget on examples/host.html in headless Chromium: answers, badges, citations, follow-ups;
the host page keeps its styles and scripts; markup runs nothing; an origin off the allowlist gets no answer;
on a phone the panel fills the screen and takes no focus (no keyboard pops up)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from assistant.settings import ROOT
from tests.conftest import LiveServer
from tests.test_ui import SHOTS, pytestmark  # noqa: F401 - same markers: browser, loopback only

HER2_LOW = ("HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of "
            "chemotherapy. What next?")


VIEWPORT_META = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def _serve_host_page(sock: socket.socket, assistant_url: str) -> ThreadingHTTPServer:
    """examples/host.html with the snippet's https://HOST pointed at the live assistant; /legacy.html is the same
    page without its viewport meta tag, as many older intranet pages are (a phone lays it out 980 pixels wide)."""
    page = (ROOT / "examples" / "host.html").read_text(encoding="utf-8").replace("https://HOST", assistant_url)
    assert VIEWPORT_META in page
    pages = {"/host.html": page, "/legacy.html": page.replace(VIEWPORT_META, "")}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in pages:
                self.send_error(404)
                return
            body = pages[self.path].encode()
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


PHONE = "Pixel 7"  # Playwright's descriptor: 412 x 839 CSS pixels, is_mobile, has_touch, a phone's user agent

FOCUS = """() => {
  const root = document.querySelector("[data-her2-adc-widget]").shadowRoot;
  const inner = root.activeElement;
  return {page: document.activeElement ? document.activeElement.tagName : null,
          widget: inner ? inner.tagName + (inner.className ? "." + inner.className : "") : null,
          inPanel: inner !== null && root.querySelector(".panel").contains(inner),
          width: window.innerWidth, height: window.innerHeight};
}"""


@pytest.mark.parametrize("path", ["/host.html", "/legacy.html"], ids=["host-page", "no-viewport-meta"])
def test_on_a_phone_the_panel_fills_the_screen_and_takes_no_focus(
        playwright: Any, browser: Any, host_url: str, path: str) -> None:
    device = playwright.devices[PHONE]
    assert device["is_mobile"]
    assert device["has_touch"]
    context = browser.new_context(**device)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(host_url.replace("/host.html", path))
    toggle = page.locator("[data-her2-adc-widget] .toggle")
    panel = page.locator("[data-her2-adc-widget] .panel")
    toggle.tap()
    panel.wait_for(state="visible")
    state = page.evaluate(FOCUS)
    # no autofocus: the tap's own focus stays on the button; nothing in the panel, above all not the textbox
    assert state["widget"] in {None, "BUTTON.toggle"}, state
    assert not state["inPanel"], state
    assert state["page"] not in {"TEXTAREA", "INPUT"}, state
    box = panel.bounding_box()
    assert box is not None
    assert abs(box["x"]) <= 1
    assert abs(box["y"]) <= 1
    assert abs(box["width"] - state["width"]) <= 1, (box, state)
    assert abs(box["height"] - state["height"]) <= 1, (box, state)
    # text at the phone's own size, also on a page laid out wider than the screen
    font = page.locator("[data-her2-adc-widget] header h2").bounding_box()
    assert font is not None
    assert font["height"] * device["viewport"]["width"] / state["width"] >= 15, (font, state)
    if path == "/host.html":
        assert (state["width"], state["height"]) == (device["viewport"]["width"], device["viewport"]["height"])
    # the widget still works by touch, and Escape and the close button still close it
    page.locator("[data-her2-adc-widget] textarea").tap()
    answer = _ask(page, HER2_LOW)
    assert "Preferred: trastuzumab deruxtecan (T-DXd)" in answer.inner_text()
    if path == "/host.html":
        page.screenshot(path=str(SHOTS / "widget-phone.png"))
    page.keyboard.press("Escape")
    assert panel.is_hidden()
    toggle.tap()
    panel.wait_for(state="visible")
    page.locator("[data-her2-adc-widget] header button[aria-label=Close]").tap()
    assert panel.is_hidden()
    assert errors == []
    context.close()


def test_on_a_desktop_the_panel_is_a_corner_box_and_focuses_the_textbox(browser: Any, host_url: str) -> None:
    page, _, _ = _open(browser, host_url)
    page.locator("[data-her2-adc-widget] .toggle").click()
    state = page.evaluate(FOCUS)
    assert state["widget"] == "TEXTAREA", state
    box = page.locator("[data-her2-adc-widget] .panel").bounding_box()
    assert box is not None
    assert box["width"] <= 420
    assert box["x"] > 800  # data-position="right"
    page.context.close()


@pytest.mark.parametrize(("safety_state", "shot"), [(None, "cds-card.png"),
                                                  ("Interstitial lung disease on home oxygen", "cds-card-warning.png")],
                         ids=["ordinary", "ild-on-home-oxygen"])
def test_a_cds_card_renders_as_an_ehr_would_show_it(browser: Any, live_server: LiveServer, safety_state: str | None,
                                                    shot: str) -> None:
    """The card of the order-select call drawn the way an EHR's CDS panel shows one (Markdown detail, no HTML)."""
    import html
    import json

    import httpx
    from markdown_it import MarkdownIt

    from tests.test_cds import FIXTURES, _condition, her2_low_patient, her2_low_with

    body = json.loads((FIXTURES / "order-select-spec.json").read_text())
    body["prefetch"] = her2_low_with(conditions=(_condition(safety_state),)) if safety_state else her2_low_patient()
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
    assert page.inner_text(".indicator") == ("WARNING" if safety_state else "INFO")
    page.screenshot(path=str(SHOTS / shot), full_page=True)
    page.context.close()
