"""The tumour-board note: built from the Answer, every citation and the corpus version in it, one in full."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from assistant.compose import md
from assistant.conversation import Assistant
from assistant.evaluate import EvalCase, load_cases
from assistant.serve.note import DISCLAIMER, note_html, note_markdown
from assistant.settings import ROOT
from assistant.types import Answer
from tests.conftest import LiveServer

GOLDEN = ROOT / "docs" / "examples" / "tumour-board-note.md"
CASE_ID = "X01"  # evals/examples.jsonl: HER2-positive MBC after T-DXd, is a new biopsy useful?


def _note(assistant: Assistant, turns: list[str]) -> tuple[str, Answer]:
    answer = assistant.answer(turns)
    references = {r.number: r for r in assistant.index.review.references}
    return note_markdown(turns, answer, references, when=date(2026, 12, 1)), answer


@pytest.mark.parametrize("case", load_cases(ROOT / "evals" / "examples.jsonl"), ids=lambda c: c.id)
def test_the_note_for_an_eval_conversation_holds_every_citation_and_the_corpus_version(
        assistant: Assistant, case: EvalCase) -> None:
    note, answer = _note(assistant, list(case.turns))
    assert f"corpus version {answer.corpus_version}" in note
    for citation in answer.citations:
        assert f"**[{md(citation.id)}]**" in note
        assert f"> {md(citation.quote)}" in note
    for rec in answer.recommendations:
        assert f"{md(rec.option)}** (ESMO evidence level {rec.evidence_level})" in note
    assert "## Patient facts as read" in note
    assert "## Not offered, and why" in note
    assert DISCLAIMER in note


def test_golden_note_shows_one_in_full(assistant: Assistant, request: pytest.FixtureRequest) -> None:
    case = next(c for c in load_cases(ROOT / "evals" / "examples.jsonl") if c.id == CASE_ID)
    note, answer = _note(assistant, list(case.turns))
    note = note.replace(answer.corpus_version, "CORPUS_VERSION")
    if request.config.getoption("--update-golden"):
        GOLDEN.write_text(note, encoding="utf-8")
    assert note == GOLDEN.read_text(encoding="utf-8")


def test_the_printable_view_keeps_typed_markup_as_text(assistant: Assistant) -> None:
    note, _ = _note(assistant, ['<script>alert(1)</script><img src=x onerror=alert(2)> HER2-low MBC after chemo'])
    page = note_html(note)
    assert "<script>alert" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert" in page


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_note_over_http_as_markdown_and_printable_html(live_server: LiveServer) -> None:
    turns = ["HER2-positive metastatic breast cancer, progressed on trastuzumab, pertuzumab and docetaxel."]
    posted = httpx.post(live_server.url + "/api/note", json={"messages": turns}, timeout=60)
    assert posted.status_code == 200
    assert posted.headers["content-type"].startswith("text/markdown")
    assert "trastuzumab deruxtecan \\(T-DXd\\)** (ESMO evidence level I)" in posted.text
    got = httpx.get(live_server.url + "/api/note", params={"messages": turns, "format": "html"}, timeout=60)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/html")
    assert "<h1>Tumour-board note: HER2-expressing breast cancer</h1>" in got.text
    assert "DESTINY-Breast03" in got.text
    bad = httpx.post(live_server.url + "/api/note", content=json.dumps({"messages": turns, "format": "pdf"}),
                     headers={"Content-Type": "application/json"}, timeout=30)
    assert bad.status_code == 422
    assert "format" in bad.json()["detail"]
