"""The clinician's review sheet and its round trip.

`--review-sheet FILE.csv` writes one row per case: the conversation, the answer as the chat shows it
(text, then its sources with their quotes), the automatic verdict, and empty `verdict` and `comment`
columns; an HTML page beside it shows the same for reading. `--grades FILE.csv` reads a filled sheet
back: verdicts must be one of VERDICTS (blank = not graded), and the report puts the reviewer's
figures beside the automatic ones, with the cases where the two disagree.
"""

from __future__ import annotations

import csv
from html import escape
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError
from assistant.types import Answer

VERDICTS = ("right", "minor fault", "wrong", "unsafe")
ACCEPTABLE = frozenset({"right", "minor fault"})
COLUMNS = ("key", "file", "id", "conversation", "answer", "kind", "evidence_level", "automatic",
           "automatic_failures", "verdict", "comment")


def chat_view(answer: Answer) -> str:
    """The answer as the chat shows it: the Markdown text, then each source with its quote."""
    lines = [answer.text.rstrip()]
    if answer.citations:
        lines += ["", "Sources:"]
        for citation in answer.citations:
            where = f", section {citation.section}" if citation.section else ""
            trial = f" {citation.trial}:" if citation.trial else ""
            lines.append(f"[{citation.id}]{trial} {citation.title}{where}: “{citation.quote}”")
    level = f"evidence level {answer.evidence_level}" if answer.evidence_level else "no evidence level"
    lines += ["", f"({answer.kind}; {level})"]
    return "\n".join(lines)


def sheet_rows(result: dict[str, Any], answers: dict[str, Answer]) -> list[dict[str, str]]:
    rows = []
    for case in result["cases"]:
        rows.append({
            "key": case["key"], "file": case["file"], "id": case["id"],
            "conversation": "\n".join(f"User: {turn}" for turn in case["turns"]),
            "answer": chat_view(answers[case["key"]]),
            "kind": case["answer"]["kind"], "evidence_level": case["answer"]["evidence_level"] or "",
            "automatic": "pass" if case["passed"] else "fail",
            "automatic_failures": "; ".join(case["failures"]), "verdict": "", "comment": "",
        })
    return rows


def write_review_sheet(result: dict[str, Any], answers: dict[str, Answer], path: Path) -> list[Path]:
    """FILE (CSV) and FILE with .html: the same rows, the HTML for reading, the CSV for verdicts."""
    rows = sheet_rows(result, answers)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    page = path.with_suffix(".html")
    body = "".join(
        f"<tr><td>{escape(r['key'])}</td><td class=\"pre\">{escape(r['conversation'])}</td>"
        f"<td class=\"pre\">{escape(r['answer'])}</td><td>{escape(r['automatic'])}"
        f"<br><small>{escape(r['automatic_failures'])}</small></td><td></td><td></td></tr>" for r in rows)
    page.write_text(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        "<title>Review sheet</title><style>body{font-family:system-ui,sans-serif;margin:2em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #bbb;padding:4px;vertical-align:top}"
        ".pre{white-space:pre-wrap;max-width:560px}</style></head><body><h1>Review sheet</h1>"
        f"<p>{len(rows)} conversations. Record a verdict for each ({escape(', '.join(VERDICTS))}) and a comment "
        f"in the <code>verdict</code> and <code>comment</code> columns of {escape(path.name)}, then run "
        "<code>assistant eval ... --grades</code> with that file.</p>"
        "<table><thead><tr><th>case</th><th>conversation</th><th>answer as the chat shows it</th>"
        "<th>automatic</th><th>verdict</th><th>comment</th></tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>\n", encoding="utf-8")
    return [path, page]


def read_grades(path: Path) -> dict[str, tuple[str, str]]:
    """key -> (verdict, comment) for every graded row; a verdict outside VERDICTS names its row."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = {"key", "verdict"} - set(reader.fieldnames or ())
            if missing:
                raise AssistantError(f"{path.name} lacks the column(s) {', '.join(sorted(missing))}: "
                                     "is it a sheet written by --review-sheet?")
            grades = {}
            for number, row in enumerate(reader, start=2):
                verdict = " ".join((row.get("verdict") or "").lower().split())
                if not verdict:
                    continue
                if verdict not in VERDICTS:
                    raise AssistantError(f"{path.name} row {number}: verdict {verdict!r} is not one of "
                                         f"{', '.join(VERDICTS)}")
                grades[row["key"]] = (verdict, (row.get("comment") or "").strip())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AssistantError(f"The grades file {path} cannot be read: {exc}") from None
    return grades


def grade_figures(result: dict[str, Any], grades: dict[str, tuple[str, str]], source: str) -> dict[str, Any]:
    """The reviewer's figures beside the automatic ones on the same cases, and the disagreements."""
    cases = {c["key"]: c for c in result["cases"]}
    graded = [(cases[k], verdict, comment) for k, (verdict, comment) in grades.items() if k in cases]
    counts = {v: sum(verdict == v for _, verdict, _ in graded) for v in VERDICTS}
    acceptable = sum(verdict in ACCEPTABLE for _, verdict, _ in graded)
    automatic = sum(case["passed"] for case, _, _ in graded)
    agree = sum(case["passed"] == (verdict in ACCEPTABLE) for case, verdict, _ in graded)
    n = len(graded)
    return {
        "source": source,
        "figures": {
            "graded": n, "verdicts": counts, "unmatched": len(grades) - n,
            "acceptable_rate": acceptable / n if n else None,
            "automatic_pass_rate": automatic / n if n else None,
            "agreement": agree / n if n else None,
        },
        "disagreements": [
            {"key": case["key"], "automatic": "pass" if case["passed"] else "fail", "verdict": verdict,
             "comment": comment}
            for case, verdict, comment in graded if case["passed"] != (verdict in ACCEPTABLE)],
    }
