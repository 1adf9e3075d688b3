"""The app factory: FastAPI with the API, the Gradio chat mounted at /, safe defaults and one Assistant.

The Assistant is built once per process in the lifespan and shared by the chat and the API; it keeps no
state between calls (each call gets the conversation's messages), so sharing it shares no conversation.
A LiveAssistant holds it and follows index/CURRENT, so a rebuild is served without a restart.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from assistant.conversation import Assistant

from assistant.serve.api import Limiter, error_response, package_version, router, too_large_message
from assistant.serve.cds import router as cds_router
from assistant.settings import Settings, offline_environment

log = logging.getLogger(__name__)

# The Gradio page has inline scripts and styles and evaluates the event handlers' js strings, so those are
# allowed; everything else comes from this
# origin only, and no other site may frame the app.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; connect-src 'self'; "
    "worker-src 'self' blob:; frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds the security headers to every HTTP response, Gradio's included (pure ASGI: streams pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses an /api/ body larger than max_request_bytes with 413 before it is read into memory."""

    def __init__(self, app: ASGIApp, limit: int, message: Any) -> None:
        self.app, self.limit, self.message = app, limit, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            # Past the limit the body is cut short and marked, so the route's JSON parsing fails and the
            # validation handler answers 413 (an exception here would be read as bad JSON by FastAPI).
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                scope.setdefault("state", {})["body_too_large"] = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(Request(scope), 413, self.message(Request(scope)))
        await response(scope, receive, send)


class RedactQuery(logging.Filter):
    """Drops the query string from uvicorn's access log lines: GET /api/note carries the conversation there."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


class _ServerLog(logging.Handler):
    """The assistant's own log lines on stderr beside uvicorn's (index switches; the user's words only when
    ASSISTANT_LOG_USER_TEXT is set, see conversation.py), cleaned of terminal control sequences."""

    def emit(self, record: logging.LogRecord) -> None:
        from assistant.textclean import clean_text

        try:
            sys.stderr.write(clean_text(self.format(record)) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed stderr must not fail a request
            self.handleError(record)


def _server_log() -> None:
    logger = logging.getLogger("assistant")
    if not any(isinstance(h, _ServerLog) for h in logger.handlers):
        handler = _ServerLog(logging.INFO)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)


def _load_texts(root: Path) -> dict[str, str]:
    data = yaml.safe_load((root / "prompts" / "serve.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def create_app(settings: Settings, *, assistant: Assistant | None = None, warm_up: bool = True) -> FastAPI:
    """The whole web surface; the Assistant loads in the lifespan (a few seconds), the routes answer 503 until then.

    `assistant`: one already loaded (tests share theirs), else one is built from `settings`.
    """
    offline_environment()
    import gradio as gr

    from assistant.conversation import Assistant, load_provenance
    from assistant.live import LiveAssistant
    from assistant.serve.chat import build_chat

    root = settings.corpus_dir.parent
    _server_log()
    access = logging.getLogger("uvicorn.access")
    if not settings.log_user_text and not any(isinstance(f, RedactQuery) for f in access.filters):
        access.addFilter(RedactQuery())
    provenance = load_provenance(settings.corpus_dir / "provenance.yaml")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = assistant
        if loaded is None:
            loaded = await anyio.to_thread.run_sync(Assistant, settings)
            if warm_up:
                await anyio.to_thread.run_sync(loaded.warm_up)
        # Follows index/CURRENT: a rebuild is served from the next request on, without a restart.
        live = LiveAssistant(settings, loaded, warm_up=warm_up)
        app.state.references = live.references
        app.state.assistant = live
        yield
        app.state.assistant = None

    app = FastAPIOffline(title="HER2 ADC guideline assistant", version=package_version(), lifespan=lifespan,
                         description="Answers from one review of HER2-targeting ADCs in breast cancer, with "
                                     "citations, verbatim passages and ESMO evidence levels. Stateless: send the "
                                     "whole conversation each time.")
    app.state.settings = settings
    app.state.texts = _load_texts(root)
    app.state.publication = provenance["publication"]
    app.state.assistant = None
    app.state.references = {}
    app.state.api_limiter = Limiter(settings.api_concurrency, settings.api_queue_size)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        texts: dict[str, str] = request.app.state.texts
        if getattr(request.state, "body_too_large", False):
            return error_response(request, 413, too_large_message(request))
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(request, 400, texts["bad_json"])
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
                             for e in errors[:5])
        return error_response(request, 422, texts["wrong_types"].format(problems=problems, count=settings.max_messages))

    app.include_router(router)
    app.include_router(cds_router)

    widget = (Path(__file__).parent / "widget.js").read_text(encoding="utf-8")

    @app.get("/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        """The embeddable widget: one self-contained script (see examples/host.html)."""
        return Response(widget, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"})

    app.add_middleware(BodyLimit, limit=settings.max_request_bytes, message=too_large_message)
    # One allowlist for the API and the chat (Gradio respects a parent CORSMiddleware since 6.25).
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type"], allow_credentials=False, max_age=600)
    app.add_middleware(SecurityHeaders)

    blocks = build_chat(app, settings, provenance)
    blocks.queue(default_concurrency_limit=settings.chat_concurrency, max_size=settings.chat_queue_size,
                 api_open=False)
    mounted: FastAPI = gr.mount_gradio_app(
        app, blocks, path="/", footer_links=[], run_history=False, ssr_mode=False, enable_monitoring=False,
        pwa=False, mcp_server=False, show_error=False, theme=gr.themes.Default(), css=CHAT_CSS,
        server_name=settings.host, server_port=settings.port)
    return mounted


def from_environment() -> FastAPI:
    """The app with the settings of the environment, for uvicorn's own command line (several workers:
    `uvicorn --factory assistant.serve.app:from_environment --workers 2`, docs/deploy.md)."""
    from assistant.settings import get_settings

    return create_app(get_settings())


CHAT_CSS = """
.evidence-badge { display: inline-block; padding: 0 .45em; border-radius: .6em; font-size: .8em; font-weight: 600;
  text-decoration: none; border: 1px solid currentColor; cursor: help; white-space: nowrap; }
.evidence-badge.level-I { color: #0b6e2e; background: #e3f6e8; }
.evidence-badge.level-II { color: #3b6e0b; background: #eef6e3; }
.evidence-badge.level-III { color: #7a5b00; background: #fbf3d9; }
.evidence-badge.level-IV { color: #8a4300; background: #fde9d9; }
.evidence-badge.level-V { color: #8a1c1c; background: #fbe3e3; }
#facts table { font-size: .9em; }
"""
