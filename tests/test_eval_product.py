"""`assistant eval` as a user runs it: the command with a baseline, reports, review sheet, grades and
--compare; --api against a real HTTP server serving the real Assistant; the HTML report in Chromium."""

from __future__ import annotations

import csv
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.errors import AssistantError
from assistant.evaluation.remote import RemoteAssistant
from assistant.settings import ROOT, Settings

CASES = [
    {"id": "P1", "turns": ["HER2-positive metastatic breast cancer after trastuzumab and a taxane, no ADC yet"],
     "expect": {"kind": "recommendation", "preferred": "TDXD", "refs_any": [7], "evidence_level": "I"}},
    {"id": "P2", "turns": ["What PFS hazard ratio did SG reach in ASCENT?"],
     "expect": {"kind": "fact", "text_all": ["0.43"], "refs_any": [10]}},
    {"id": "P3", "turns": ["What is the best treatment for metastatic prostate cancer?"], "expect": {"kind": "out_of_scope"}},
    {"id": "P4", "turns": ["Which ADC should I use?"], "expect": {"kind": "recommendation"}},
]
HOLDOUT = [{"id": "Q1", "turns": ["Which ADC should I use?"], "expect": {"kind": "clarification"}}]
RETRIEVAL = [{"id": "R1", "question": "Which trial compared T-DXd with T-DM1 in HER2-positive metastatic disease?",
              "passages": ["review:2:p3"], "kind": "named-trial"}]


def _env(settings: Settings) -> dict[str, str]:
    return {"ASSISTANT_INDEX_DIR": str(settings.index_dir)}


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evals")
    _write(folder / "cases.jsonl", CASES)
    _write(folder / "holdout" / "holdout.jsonl", HOLDOUT)
    _write(folder / "retrieval.jsonl", RETRIEVAL)
    shutil.copy(ROOT / "evals" / "aliases.json", folder / "aliases.json")
    return folder


@pytest.fixture(scope="module")
def report_run(settings: Settings, eval_dir: Path) -> tuple[Any, Path]:
    """One full run: baseline, holdout, retrieval set, report, JSON, review sheet, answers."""
    out = eval_dir / "out"
    result = CliRunner().invoke(cli, [
        "eval", str(eval_dir / "cases.jsonl"), str(eval_dir / "retrieval.jsonl"), "--report", str(out / "report"),
        "--review-sheet", str(out / "sheet.csv"), "--answers-out", str(out / "answers.jsonl")], env=_env(settings))
    return result, out


def test_eval_prints_metrics_and_writes_both_reports_with_the_baseline(report_run: tuple[Any, Path]) -> None:
    result, out = report_run
    assert result.exit_code == 0, result.output
    assert "cases.jsonl: 3/4 cases passed (75.0%)." in result.output
    assert "FAIL P4: kind is clarification, expected recommendation" in result.output
    assert "holdout/holdout.jsonl: 1/1 cases passed (100.0%)." in result.output
    assert "assistant (committed)" in result.output
    assert "baseline (committed)" in result.output
    data = json.loads((out / "report" / "results.json").read_text())
    assistant, baseline = data["systems"]["assistant"], data["systems"]["baseline"]
    assert assistant["by_split"]["dev"]["pass_rate"] == 0.75
    assert assistant["by_split"]["holdout"]["pass_rate"] == 1.0
    assert assistant["summary"]["quote_faithfulness"] == 1.0
    # plain retrieval answers every question as a fact: no recommendation, no level
    assert baseline["by_kind"]["recommendation"]["pass_rate"] == 0.0
    assert baseline["by_split"]["dev"]["evidence_level_accuracy"] == 0.0
    assert assistant["retrieval"]["summary"]["recall_at_5"] == 1.0
    assert baseline["retrieval"]["summary"]["n"] == 1
    markdown = (out / "report" / "report.md").read_text()
    assert "| pass rate | 75.0% | 100.0% |" in markdown
    assert "### cases.jsonl:P4" in markdown
    html = (out / "report" / "report.html").read_text()
    assert "baseline (committed)" in html
    assert "Which ADC should I use?" in html
    lines = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert [(line["file"], line["id"]) for line in lines] == [
        ("cases.jsonl", "P1"), ("cases.jsonl", "P2"), ("cases.jsonl", "P3"), ("cases.jsonl", "P4"),
        ("holdout/holdout.jsonl", "Q1")]
    assert lines[0]["answer"]["recommendations"][0]["option"].startswith("trastuzumab deruxtecan")


def test_graded_sheet_and_compare_join_the_next_report(settings: Settings, report_run: tuple[Any, Path],
                                                       eval_dir: Path) -> None:
    _, out = report_run
    sheet = out / "sheet.csv"
    with sheet.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    verdicts = {"cases.jsonl:P1": ("wrong", "should mention ILD monitoring"), "cases.jsonl:P4": ("right", "asking back is right")}
    for row in rows:
        row["verdict"], row["comment"] = verdicts.get(row["key"], ("right", ""))
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    old = out / "report" / "results.json"
    shutil.copy(old, out / "old.json")
    result = CliRunner().invoke(cli, [
        "eval", str(eval_dir / "cases.jsonl"), "--no-baseline", "--no-holdout", "--grades", str(sheet),
        "--compare", str(out / "old.json"), "--report", str(out / "again"), "--json", str(out / "metrics.json")],
        env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "Reviewer: 4 graded" in result.output
    assert "2 disagreements with the automatic check" in result.output
    data = json.loads((out / "metrics.json").read_text())
    assert data["grades"]["figures"]["acceptable_rate"] == 0.75
    assert {d["key"] for d in data["grades"]["disagreements"]} == {"cases.jsonl:P1", "cases.jsonl:P4"}
    assert data["compare"]["removed"] == ["holdout/holdout.jsonl:Q1"]
    assert data["compare"]["regressed"] == []
    assert data["compare"]["improved"] == []
    markdown = (out / "again" / "report.md").read_text()
    assert "should mention ILD monitoring" in markdown
    assert "## Compared with the previous run" in markdown


def test_thresholds_fail_the_command_and_name_the_metric(settings: Settings, eval_dir: Path, tmp_path: Path) -> None:
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"metrics": {"pass_rate": 0.95, "quote_faithfulness": 1.0}, "cases.jsonl": 0.7}))
    result = CliRunner().invoke(cli, ["eval", str(eval_dir / "cases.jsonl"), "--no-baseline", "--no-holdout",
                                      "--thresholds", str(thresholds)], env=_env(settings))
    assert result.exit_code == 1
    assert "GATE: pass_rate 0.7500 on the committed cases misses the threshold 0.95" in result.output
    assert "1 committed threshold(s) missed" in result.output


def test_an_unknown_case_key_stops_the_run_with_its_name(settings: Settings, tmp_path: Path) -> None:
    cases = _write(tmp_path / "bad.jsonl", [{"id": "Z1", "turns": ["q"], "expect": {"refs": [7]}}])
    result = CliRunner().invoke(cli, ["eval", str(cases), "--aliases", str(ROOT / "evals" / "aliases.json")],
                                env=_env(settings))
    assert result.exit_code == 1
    assert "bad.jsonl line 1 (case Z1): unknown key 'expect.refs'" in result.output


# --- --api against a real server ---------------------------------------------------------------


@pytest.fixture
def server(assistant: Any) -> Iterator[str]:
    """POST /api/answer on 127.0.0.1, answered by the real Assistant; the contract's Answer JSON
    (with a field this client does not know, as a newer server may add)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/api/answer":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = assistant.answer(body["messages"])
            payload = {**answer.model_dump(mode="json"), "served_by": "test"}
            data = json.dumps(payload).encode()
            self.send_response(422 if answer.kind == "error" else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_the_api_client_gets_the_same_answers_as_in_process(server: str, assistant: Any) -> None:
    remote = RemoteAssistant(server + "/")
    for case in CASES:
        turns = list(case["turns"])
        assert remote.answer(turns) == assistant.answer(turns)
    error = remote.answer(["\x00\x01binary"])  # the server answers 422 with an Answer of kind error
    assert error.kind == "error"


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_eval_with_api_scores_the_running_server(server: str, settings: Settings, eval_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", str(eval_dir / "cases.jsonl"), "--no-baseline", "--no-holdout",
                                      "--api", server, "--json", str(eval_dir / "api.json")], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "cases.jsonl: 3/4 cases passed (75.0%)." in result.output
    data = json.loads((eval_dir / "api.json").read_text())
    assert data["meta"]["source"] == server + "/api/answer"
    assert "warning" not in data["meta"]  # same corpus_version as the local index


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_an_unreachable_server_is_a_clear_error() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AssistantError, match=rf"http://127.0.0.1:{port}/api/answer cannot be reached"):
        RemoteAssistant(f"http://127.0.0.1:{port}").answer(["q"])
    with pytest.raises(AssistantError, match="needs an http"):
        RemoteAssistant("ftp://example")


# --- the HTML report in a real browser -----------------------------------------------------------


def _open_report(browser: Any, path: Path) -> tuple[Any, list[str], str]:
    """The report opened from disk: the page, every URL it requested, its own URL."""
    page_url = path.resolve().as_uri()
    requests: list[str] = []
    page = browser.new_context().new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.goto(page_url)
    page.wait_for_load_state("load")
    return page, requests, page_url


def _assert_charts_drawn(page: Any, charts: int, bars: int) -> None:
    drawn = page.locator("svg.chart")
    assert drawn.count() == charts
    for i in range(drawn.count()):
        box = drawn.nth(i).bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 50
    rects = page.locator("svg.chart rect.bar")
    assert rects.count() >= bars
    widths = [rects.nth(i).bounding_box()["width"] for i in range(rects.count())]
    assert max(widths) > 100
    linked = page.evaluate("() => [...document.querySelectorAll('[src],[href],link,script,iframe,object')]"
                           ".map(e => e.outerHTML.slice(0, 80))")
    assert linked == []  # nothing that could load, beside the CSP that forbids it


@pytest.mark.browser
def test_the_html_report_draws_its_charts_and_loads_nothing_from_outside(report_run: tuple[Any, Path],
                                                                          browser: Any) -> None:
    _, out = report_run
    page, requests, page_url = _open_report(browser, out / "report" / "report.html")
    _assert_charts_drawn(page, charts=4, bars=10)  # by file, by kind, metric bars, retrieval
    assert page.get_by_role("heading", name="Failed cases (1)").is_visible()
    assert page.get_by_text("kind is clarification, expected recommendation").is_visible()
    page.context.close()
    assert requests == [page_url]


COMMITTED_REPORT = ROOT / "docs" / "eval-report"


@pytest.mark.browser
def test_the_committed_report_draws_its_charts_and_loads_nothing_from_outside(browser: Any) -> None:
    result = json.loads((COMMITTED_REPORT / "results.json").read_text(encoding="utf-8"))
    page, requests, page_url = _open_report(browser, COMMITTED_REPORT / "report.html")
    groups = len(result["systems"]["assistant"]["by_file"]) + len(result["systems"]["assistant"]["by_kind"])
    _assert_charts_drawn(page, charts=4, bars=2 * groups)
    failed = sum(not c["passed"] for c in result["cases"])
    assert page.get_by_role("heading", name=f"Failed cases ({failed})").is_visible()
    assert page.get_by_role("columnheader", name="baseline (committed)").first.is_visible()
    page.context.close()
    assert requests == [page_url]


def test_the_readme_headline_table_is_the_committed_reports() -> None:
    """README's eval table shows the figures of docs/eval-report/results.json as the report prints them."""
    from assistant.evaluation.report import fmt, headline_rows

    result = json.loads((COMMITTED_REPORT / "results.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Eval report"):]
    section = section[:section.index("\n## ", 3)]
    table = {cells[0]: cells[1:] for line in section.splitlines() if line.startswith("| ")
             for cells in [[c.strip() for c in line.strip().strip("|").split("|")]]}
    header, rows = headline_rows(result)
    assert table["metric"] == header[1:]
    shown = [row for row in rows if row[0] in table]
    assert len(shown) >= 9  # every headline figure but the latency
    for row in shown:
        assert table[row[0]] == row[1:], row[0]
    retrieval = next(cells for label, cells in table.items() if label.startswith("retrieval recall@5"))
    systems = result["systems"]
    assert retrieval[0] == fmt("recall_at_5", systems["assistant"]["retrieval"]["summary"]["recall_at_5"])
    assert retrieval[2] == fmt("recall_at_5", systems["baseline"]["retrieval"]["summary"]["recall_at_5"])
    assert f"{systems['assistant']['retrieval']['summary']['n']} labelled questions" in next(
        label for label in table if label.startswith("retrieval recall@5"))
