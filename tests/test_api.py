"""The HTTP API over real HTTP: the contract's Answer, each error with its message, the busy answer."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.conversation import Assistant
from assistant.settings import Settings
from tests.conftest import LiveServer

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

CASE = ("HER2-positive metastatic breast cancer, progressed on trastuzumab, pertuzumab and docetaxel. "
        "What is the next line?")
CONTRACT_FIELDS = {"kind", "text", "recommendations", "citations", "evidence_level", "patient", "follow_up",
                   "rule_ids", "corpus_version"}


def post(server: LiveServer, content: bytes | str, path: str = "/api/answer",
         headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + path, content=content, timeout=60,
                      headers={"Content-Type": "application/json", **(headers or {})})


def test_answer_is_the_contract_answer_with_the_preferred_option(live_server: LiveServer) -> None:
    response = post(live_server, json.dumps({"messages": [CASE]}))
    assert response.status_code == 200
    answer = response.json()
    assert answer.keys() >= CONTRACT_FIELDS
    assert answer["kind"] == "recommendation"
    preferred = answer["recommendations"][0]
    assert preferred["role"] == "preferred"
    assert "trastuzumab deruxtecan" in preferred["option"]
    assert preferred["evidence_level"] == "I"
    assert 7 in {c["ref"] for c in answer["citations"]}  # DESTINY-Breast03
    assert answer["patient"]["her2"]["words"]


def test_the_conversation_is_sent_whole_and_a_later_turn_changes_the_answer(live_server: LiveServer) -> None:
    first = "ER-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of chemotherapy."
    low = post(live_server, json.dumps({"messages": [first, "HER2 is IHC 1+"]})).json()
    zero = post(live_server, json.dumps({"messages": [first, "HER2 is IHC 0"]})).json()
    assert "trastuzumab deruxtecan" in low["recommendations"][0]["option"]
    assert "sacituzumab" in zero["recommendations"][0]["option"]
    alone = post(live_server, json.dumps({"messages": ["HER2 is IHC 0"]})).json()
    assert alone["kind"] != "recommendation" or alone["recommendations"] != zero["recommendations"]


def test_api_and_cli_give_the_same_answer_as_the_assistant(live_server: LiveServer, settings: Settings,
                                                            assistant: Assistant) -> None:
    over_http = post(live_server, json.dumps({"messages": [CASE]})).json()
    result = CliRunner().invoke(cli, ["ask", CASE, "--json"], env={"ASSISTANT_INDEX_DIR": str(settings.index_dir)})
    assert result.exit_code == 0, result.output
    assert over_http == json.loads(result.output) == assistant.answer([CASE]).model_dump(mode="json")


def test_health_version_and_openapi(live_server: LiveServer, assistant: Assistant) -> None:
    health = httpx.get(live_server.url + "/api/health").json()
    assert health == {"status": "ok", "corpus_version": assistant.corpus_version}
    version = httpx.get(live_server.url + "/api/version").json()
    assert version["corpus_version"] == assistant.corpus_version
    assert version["package_version"] == "0.1.0"
    assert version["literature_cutoff"].startswith("2024-07-14")
    schema = httpx.get(live_server.url + "/openapi.json").json()
    assert {"/api/answer", "/api/health", "/api/version"} <= schema["paths"].keys()
    assert "messages" in schema["components"]["schemas"]["AnswerRequest"]["properties"]
    docs = httpx.get(live_server.url + "/docs")
    assert docs.status_code == 200
    assert "/static-offline-docs/swagger-ui-bundle.js" in docs.text  # served here, not from a CDN
    assert "cdn" not in docs.text.lower()
    assert httpx.get(live_server.url + "/static-offline-docs/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ('{"messages": ["HER2-low MBC"', 400, "not valid JSON"),
        ("messages=HER2-low", 400, "not valid JSON"),
        ('{"messages": "HER2-low MBC"}', 422, "a list of 1 to"),
        ('{"messages": [1, 2]}', 422, "messages.0"),
        ('{"messages": []}', 422, "a list of 1 to"),
        ('{"question": "HER2-low MBC"}', 422, "messages: Field required"),
        ('{"messages": ["a" ], "user": "x"}', 422, "user: Extra inputs"),
        (json.dumps({"messages": ["x" * 20001]}), 413, "at most 20000 characters"),
        (json.dumps({"messages": ["HER2-low"] * 61}), 413, "more than 60 messages"),
        (json.dumps({"messages": ["HER2-low " * 40000]}), 413, "larger than 262144 bytes"),
    ],
    ids=["truncated", "form", "string", "numbers", "empty", "missing", "extra", "long-message", "many-messages",
         "large-body"],
)
def test_bad_requests_get_a_clear_message_saying_what_to_send(
        live_server: LiveServer, body: str, status: int, says: str) -> None:
    response = post(live_server, body)
    assert response.status_code == status
    error = response.json()
    assert error["kind"] == "error"
    assert says in error["detail"]
    assert error["text"] == error["detail"]
    assert "Send" in error["detail"] or "Start a new conversation" in error["detail"]


def test_a_large_body_without_content_length_is_refused_too(live_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b'{"messages": ["' + b"x" * 10000

    response = httpx.post(live_server.url + "/api/answer", content=chunks(), timeout=30,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_a_full_limiter_answers_busy_at_once_and_recovers(live_server: LiveServer) -> None:
    limiter = live_server.app.state.api_limiter
    held = 0
    while limiter.slots.acquire(blocking=False):
        held += 1
    try:
        assert held == 8 + 32  # Settings: api_concurrency + api_queue_size
        response = post(live_server, json.dumps({"messages": [CASE]}))
        assert response.status_code == 503
        assert response.json()["detail"] == "The assistant is busy answering other questions. Try again in a few seconds."
    finally:
        for _ in range(held):
            limiter.slots.release()
    assert post(live_server, json.dumps({"messages": [CASE]})).status_code == 200


def test_security_headers_on_the_chat_and_the_api(live_server: LiveServer) -> None:
    for path in ("/", "/api/health"):
        headers = httpx.get(live_server.url + path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"


def test_the_chat_page_loads_nothing_from_another_origin(live_server: LiveServer) -> None:
    page = httpx.get(live_server.url + "/").text
    assert "fonts.googleapis" not in page
    assert "cdn.jsdelivr" not in page
    config = httpx.get(live_server.url + "/config").json()
    assert config["footer_links"] == []
    assert config.get("run_history") is not True


def test_export_returns_the_conversation_as_markdown(live_server: LiveServer) -> None:
    response = post(live_server, json.dumps({"messages": [CASE, "why?"]}), path="/api/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert "## Question 2" in response.text
    assert "DESTINY-Breast03" in response.text


# --- origins: the CORS allowlist enforced by the server, not only by the browser's preflight ------------


class CountingAssistant:
    """The session's Assistant, counting the answers computed (to show a refused request ran nothing)."""

    def __init__(self, real: Assistant) -> None:
        self.real, self.calls = real, 0

    def answer(self, messages: list[str]) -> Any:
        self.calls += 1
        return self.real.answer(messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@contextlib.contextmanager
def swapped(server: LiveServer, name: str, value: Any) -> Iterator[Any]:
    """app.state.<name> replaced for one test (monkeypatch would delete it after: State hides its attributes)."""
    state = server.app.state
    before = getattr(state, name)
    setattr(state, name, value)
    try:
        yield value
    finally:
        setattr(state, name, before)


@pytest.fixture
def counting(live_server: LiveServer) -> Iterator[CountingAssistant]:
    with swapped(live_server, "assistant", CountingAssistant(live_server.app.state.assistant)) as spy:
        yield spy


def _allowed_origin(server: LiveServer) -> str:
    origins: tuple[str, ...] = server.app.state.settings.cors_origins
    return origins[0]  # tests/conftest.py puts the widget's host page there


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/api/answer", {"messages": [CASE]}),
     ("POST", "/api/note", {"messages": [CASE], "format": "markdown"}),
     ("POST", "/api/export", {"messages": [CASE]}),
     ("GET", "/api/note", None)],
    ids=["answer", "note", "export", "note-get"],
)
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
def test_a_page_from_an_origin_not_on_the_allowlist_is_refused_before_anything_runs(
        live_server: LiveServer, counting: CountingAssistant, method: str, path: str, body: dict[str, Any] | None,
        origin: str) -> None:
    response = httpx.request(method, live_server.url + path, timeout=60, headers={"Origin": origin},
                             json=body, params={"messages": [CASE], "format": "html"} if body is None else None)
    assert response.status_code == 403
    error = response.json()
    assert error["kind"] == "error"
    assert error["text"] == error["detail"]
    assert f"does not answer pages from {origin}" in error["detail"]
    assert "ASSISTANT_CORS_ORIGINS" in error["detail"]
    assert error["recommendations"] == []
    assert "access-control-allow-origin" not in response.headers  # nor could a browser read it
    assert counting.calls == 0


@pytest.mark.parametrize("path", ["/api/answer", "/api/note"])
def test_same_origin_and_allowed_origins_are_answered(live_server: LiveServer, counting: CountingAssistant,
                                                      path: str) -> None:
    allowed = _allowed_origin(live_server)
    for headers in ({}, {"Origin": live_server.url}, {"Origin": allowed},
                    # behind a TLS proxy that passes the Host header on, the browser's origin says https
                    {"Origin": "https://assistant.example", "Host": "assistant.example"},
                    {"Origin": "https://assistant.example", "Host": "assistant.example:443"}):
        response = httpx.post(live_server.url + path, json={"messages": [CASE]}, headers=headers, timeout=60)
        assert response.status_code == 200, (headers, response.text)
        assert "trastuzumab deruxtecan" in response.text
    assert counting.calls == 5
    allowed_response = httpx.post(live_server.url + path, json={"messages": [CASE]}, headers={"Origin": allowed},
                                  timeout=60)
    assert allowed_response.headers["access-control-allow-origin"] == allowed
    preflight = httpx.options(live_server.url + path, headers={
        "Origin": allowed, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    refused_preflight = httpx.options(live_server.url + path, headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused_preflight.status_code == 400


def test_the_allowlist_comes_from_assistant_cors_origins(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch,
                                                         counting: CountingAssistant) -> None:
    monkeypatch.setenv("ASSISTANT_CORS_ORIGINS", '["https://intranet.example", "https://board.example:8443"]')
    from_env = Settings()
    assert from_env.cors_origins == ("https://intranet.example", "https://board.example:8443")
    allowed = _allowed_origin(live_server)

    def status(origin: str) -> int:
        return httpx.post(live_server.url + "/api/answer", json={"messages": [CASE]}, headers={"Origin": origin},
                          timeout=60).status_code

    with swapped(live_server, "settings",
                 live_server.app.state.settings.model_copy(update={"cors_origins": from_env.cors_origins})):
        assert status("https://intranet.example") == 200
        assert status("https://INTRANET.example:443") == 200  # the same origin, spelled otherwise
        assert status("https://board.example:8443") == 200
        assert status("https://board.example") == 403  # another port is another origin
        assert status("https://intranet.example.evil.example") == 403
        assert status(allowed) == 403  # no longer listed
    assert counting.calls == 3
