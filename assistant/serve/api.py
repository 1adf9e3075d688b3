"""The HTTP API: stateless (the client sends the whole conversation), the contract's Answer out.

Errors are Answers too (kind "error", the message in `text` and in `detail`), each saying what to send
instead. /api/answer has its own limiter, because FastAPI routes bypass Gradio's queue: past its capacity
a request is told "busy" (503) at once instead of hanging.

The routes that run the assistant refuse a request whose Origin is neither this server nor on
`Settings.cors_origins` (403): CORS only stops a browser from reading the answer, the server would still
have computed it for any page on the web.
"""

from __future__ import annotations

import threading
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from assistant.serve.note import note_html, note_markdown
from assistant.serve.render import conversation_markdown
from assistant.settings import Settings
from assistant.types import Answer


class AnswerRequest(BaseModel):
    """A whole conversation, oldest message first; the answer is to the last one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"messages": ["HER2-low HR-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of chemotherapy"]}]})

    messages: list[Annotated[str, Field(strict=True)]] = Field(min_length=1)


class Limiter:
    """Admits `concurrency + queue` requests at a time; `concurrency` of them compute, the rest wait.

    Admission is a non-blocking threading semaphore, so a caller past capacity is refused at once.
    """

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = concurrency
        self.slots = threading.BoundedSemaphore(concurrency + queue)
        self._running: anyio.CapacityLimiter | None = None

    def running(self) -> anyio.CapacityLimiter:
        if self._running is None:  # made on first use, inside the server's event loop
            self._running = anyio.CapacityLimiter(self.concurrency)
        return self._running


def package_version() -> str:
    try:
        return version("her2-adc-assistant")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def error_response(request: Request, status: int, message: str) -> JSONResponse:
    assistant = getattr(request.app.state, "assistant", None)
    corpus_version = assistant.corpus_version if assistant is not None else ""
    body: dict[str, Any] = Answer(kind="error", text=message, corpus_version=corpus_version).model_dump(mode="json")
    body["detail"] = message
    return JSONResponse(body, status_code=status)


def _texts(request: Request) -> dict[str, str]:
    texts: dict[str, str] = request.app.state.texts
    return texts


def _site(origin: str) -> str:
    """host[:port] of an origin or a Host header, lower-case, without :80 or :443.

    The scheme is left out on purpose: behind a TLS proxy the browser says https while this server sees http.
    """
    value = origin.strip().lower().rstrip("/")
    netloc = urlsplit(value).netloc if "://" in value else value
    for default in (":80", ":443"):
        if netloc.endswith(default):
            return netloc[: -len(default)]
    return netloc


def _foreign_origin(request: Request) -> JSONResponse | None:
    """403 for a browser request sent by a page of another origin that is not on the allowlist.

    No Origin header (curl, a server, a link opened in the browser) or this server's own origin passes.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return None
    settings: Settings = request.app.state.settings
    allowed = {_site(o) for o in settings.cors_origins}
    site = _site(origin)
    if "*" in settings.cors_origins or (site and (site in allowed or site == _site(request.headers.get("host", "")))):
        return None
    return error_response(request, 403, _texts(request)["foreign_origin"].format(origin=origin[:200]))


def _oversized(request: Request, messages: list[str]) -> JSONResponse | None:
    settings: Settings = request.app.state.settings
    if len(messages) > settings.max_messages:
        return error_response(request, 413, _texts(request)["too_many_messages"].format(count=settings.max_messages))
    if any(len(m) > settings.max_message_chars for m in messages):
        return error_response(request, 413, too_large_message(request))
    return None


def too_large_message(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return _texts(request)["too_large"].format(limit=settings.max_request_bytes, chars=settings.max_message_chars,
                                               count=settings.max_messages)


router = APIRouter(prefix="/api", tags=["api"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not JSON."},
    403: {"description": "Sent by a page whose origin is not on the allowlist (Settings.cors_origins)."},
    413: {"description": "The body, a message or the conversation is too long."},
    422: {"description": "The JSON does not have the shape of AnswerRequest."},
    503: {"description": "Busy or still starting: try again."},
}


@router.post("/answer", response_model=Answer, responses=_ERRORS)
async def answer(request: Request, body: Annotated[AnswerRequest, Body()]) -> Any:
    """The Answer to the conversation's last message (the contract's Answer object)."""
    refused = _foreign_origin(request) or _oversized(request, body.messages)
    if refused is not None:
        return refused
    assistant = getattr(request.app.state, "assistant", None)
    if assistant is None:
        return error_response(request, 503, _texts(request)["not_ready"])
    limiter: Limiter = request.app.state.api_limiter
    if not limiter.slots.acquire(blocking=False):
        return error_response(request, 503, _texts(request)["busy"])
    try:
        result: Answer = await anyio.to_thread.run_sync(assistant.answer, body.messages, limiter=limiter.running())
    finally:
        limiter.slots.release()
    return JSONResponse(result.model_dump(mode="json"))


@router.post("/export", response_class=PlainTextResponse, responses=_ERRORS)
async def export(request: Request, body: Annotated[AnswerRequest, Body()]) -> Any:
    """The conversation as Markdown: each message, its answer and its quotes (computed again, nothing stored)."""
    refused = _foreign_origin(request) or _oversized(request, body.messages)
    if refused is not None:
        return refused
    assistant = getattr(request.app.state, "assistant", None)
    if assistant is None:
        return error_response(request, 503, _texts(request)["not_ready"])
    limiter: Limiter = request.app.state.api_limiter
    if not limiter.slots.acquire(blocking=False):
        return error_response(request, 503, _texts(request)["busy"])
    try:
        def build() -> str:
            answers = [assistant.answer(body.messages[: n + 1]) for n in range(len(body.messages))]
            return conversation_markdown(body.messages, answers, request.app.state.references)

        text = await anyio.to_thread.run_sync(build, limiter=limiter.running())
    finally:
        limiter.slots.release()
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="conversation.md"'})


class Health(BaseModel):
    status: str
    corpus_version: str | None


@router.get("/health", response_model=Health, responses={503: {"description": "Still starting."}})
async def health(request: Request) -> Any:
    assistant = getattr(request.app.state, "assistant", None)
    if assistant is None:
        return JSONResponse({"status": "starting", "corpus_version": None}, status_code=503)
    return Health(status="ok", corpus_version=assistant.corpus_version)


class VersionInfo(BaseModel):
    corpus_version: str | None
    package_version: str
    review_title: str
    literature_cutoff: str


@router.get("/version", response_model=VersionInfo)
async def version_info(request: Request) -> VersionInfo:
    """Which build of the corpus answers, the package version and the review's literature date."""
    assistant = getattr(request.app.state, "assistant", None)
    publication: dict[str, Any] = request.app.state.publication
    return VersionInfo(corpus_version=assistant.corpus_version if assistant is not None else None,
                       package_version=package_version(), review_title=str(publication["title"]),
                       literature_cutoff=str(publication["literature_cutoff"]))


class NoteRequest(AnswerRequest):
    format: Literal["markdown", "html"] = "markdown"


async def _note(request: Request, messages: list[str], form: str) -> Any:
    refused = _foreign_origin(request) or _oversized(request, messages)
    if refused is not None:
        return refused
    assistant = getattr(request.app.state, "assistant", None)
    if assistant is None:
        return error_response(request, 503, _texts(request)["not_ready"])
    limiter: Limiter = request.app.state.api_limiter
    if not limiter.slots.acquire(blocking=False):
        return error_response(request, 503, _texts(request)["busy"])
    try:
        result: Answer = await anyio.to_thread.run_sync(assistant.answer, messages, limiter=limiter.running())
    finally:
        limiter.slots.release()
    text = note_markdown(messages, result, request.app.state.references, when=date.today(),
                         package_version=package_version())
    if form == "html":
        return HTMLResponse(note_html(text))
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8",
                             headers={"Content-Disposition": 'inline; filename="tumour-board-note.md"'})


@router.post("/note", responses=_ERRORS)
async def note(request: Request, body: Annotated[NoteRequest, Body()]) -> Any:
    """The tumour-board note for the conversation's last answer, as Markdown or a printable HTML page."""
    return await _note(request, body.messages, body.format)


@router.get("/note", responses=_ERRORS)
async def note_get(request: Request, messages: Annotated[list[str], Query(min_length=1)],
                   format: Literal["markdown", "html"] = "markdown") -> Any:
    """The same note from query parameters (`?messages=...&messages=...&format=html`), for a link or a print
    button; the query string is kept out of the access log (see app.RedactQuery)."""
    return await _note(request, messages, format)


class PassageView(BaseModel):
    id: str
    section: str | None
    section_title: str | None
    text: str


@router.get("/passage/{passage_id}", response_model=PassageView, responses={404: {"description": "No such passage."}})
async def passage(request: Request, passage_id: str) -> Any:
    """One passage of the review, verbatim as indexed: where a citation or a CDS card's source points."""
    assistant = getattr(request.app.state, "assistant", None)
    if assistant is None:
        return error_response(request, 503, _texts(request)["not_ready"])
    found = next((p for p in assistant.index.review.passages if p.id == passage_id), None)
    if found is None:
        return error_response(request, 404, f"No passage '{passage_id}'. Passage ids look like review:4:p1.")
    return PassageView(id=found.id, section=found.section, section_title=found.section_title, text=found.text)
