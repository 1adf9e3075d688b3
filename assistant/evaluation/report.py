"""Reports a reviewer reads, from the run's JSON: Markdown, and one self-contained HTML file.

The HTML loads nothing: styles inline, charts as inline SVG, no script, and a Content-Security-Policy
that forbids any outside request, so it can be opened on a hospital workstation without a network.
Everything from a case or an answer is escaped.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError
from assistant.evaluation.metrics import HIGHER_IS_BETTER, LABELS, METRICS

RETRIEVAL_METRICS = (("recall_at_1", "recall@1"), ("recall_at_5", "recall@5"), ("mrr", "MRR"),
                     ("ndcg_at_5", "nDCG@5"))
HEADLINE = ("pass_rate", "preferred_accuracy", "citation_precision", "citation_precision_key", "citation_recall", "evidence_level_accuracy",
            "quote_faithfulness", "number_faithfulness", "latency_p95_ms")
_CONSOLE = ("pass_rate", "preferred_accuracy", "citation_precision", "citation_recall", "evidence_level_accuracy",
            "quote_faithfulness", "number_faithfulness")
_SERIES_COLOURS = ("#1f5f99", "#c76b1a", "#4b8b3b", "#7a4b94")


def fmt(name: str, value: object) -> str:
    """A figure as the reports print it: counts as integers, times in ms, ratios as percentages."""
    if value is None:
        return "n/a"
    if name == "n":
        return str(value)
    if name.endswith("_ms"):
        return f"{float(value):.1f}"  # type: ignore[arg-type]
    return f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def load_result(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AssistantError(f"{path} is not an eval result JSON file: {exc}") from None
    if not isinstance(data, dict) or "systems" not in data or "cases" not in data:
        raise AssistantError(f"{path} is not an eval result JSON file (written by `assistant eval --report`)")
    return data


# --- comparison ---------------------------------------------------------------------------


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed since OLD, by metric (the assistant's committed cases) and by case."""
    before = {c["key"]: c for c in old["cases"]}
    after = {c["key"]: c for c in new["cases"]}
    metrics = {}
    old_dev = old["systems"]["assistant"]["by_split"].get("dev", old["systems"]["assistant"]["summary"])
    new_dev = new["systems"]["assistant"]["by_split"].get("dev", new["systems"]["assistant"]["summary"])
    for name, _, higher in METRICS:
        a, b = old_dev.get(name), new_dev.get(name)
        if a is None or b is None:
            continue
        delta = b - a
        # judged as printed: 98.2% against 98.2% is the same, whatever lies below the last digit
        change = "same" if fmt(name, a) == fmt(name, b) else ("better" if (delta > 0) == higher else "worse")
        metrics[name] = {"old": a, "new": b, "delta": delta, "change": change}
    return {
        "old_created": old["meta"].get("created"),
        "old_corpus_version": old["meta"].get("corpus_version"),
        "metrics": metrics,
        "improved": sorted(k for k in after if k in before and after[k]["passed"] and not before[k]["passed"]),
        "regressed": [{"key": k, "failures": after[k]["failures"]}
                      for k in sorted(after) if k in before and before[k]["passed"] and not after[k]["passed"]],
        "new": sorted(k for k in after if k not in before),
        "removed": sorted(k for k in before if k not in after),
    }


# --- shared tables ------------------------------------------------------------------------


def _columns(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, figures) for the summary table: each system on the committed cases and the holdout."""
    columns = []
    for system, figures in result["systems"].items():
        for split, label in (("dev", "committed"), ("holdout", "holdout")):
            if split in figures["by_split"]:
                columns.append((f"{system} ({label})", figures["by_split"][split]))
    return columns


def _rows(columns: list[tuple[str, dict[str, Any]]], names: tuple[str, ...]) -> list[list[str]]:
    rows = [["cases", *[fmt("n", c["n"]) for _, c in columns]]]
    for name in names:
        rows.append([LABELS[name] + ("" if HIGHER_IS_BETTER[name] else " (lower is better)"),
                     *[fmt(name, c.get(name)) for _, c in columns]])
    return rows


def headline_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    columns = _columns(result)
    return ["metric", *[label for label, _ in columns]], _rows(columns, HEADLINE)


def _group_table(result: dict[str, Any], key: str) -> tuple[list[str], list[list[str]]]:
    """One row per file (or kind): n, then every metric, assistant first, baseline's pass rate last."""
    mine = result["systems"]["assistant"][key]
    theirs = result["systems"].get("baseline", {}).get(key, {})
    names = [name for name, _, _ in METRICS]
    header = [key.removeprefix("by_"), "cases", *[LABELS[n] for n in names]]
    if theirs:
        header.append("baseline pass rate")
    rows = []
    for group, figures in mine.items():
        row = [group, fmt("n", figures["n"]), *[fmt(n, figures.get(n)) for n in names]]
        if theirs:
            row.append(fmt("pass_rate", theirs.get(group, {}).get("pass_rate")))
        rows.append(row)
    return header, rows


def _retrieval_table(result: dict[str, Any], key: str) -> tuple[list[str], list[list[str]]]:
    header = [key.removeprefix("by_"), "questions"]
    systems = [(n, s["retrieval"]) for n, s in result["systems"].items() if s["retrieval"]["summary"]["n"]]
    for system, _ in systems:
        header += [f"{system} {label}" for _, label in RETRIEVAL_METRICS]
    groups: list[str] = []
    for _, retrieval in systems:
        groups += [g for g in retrieval[key] if g not in groups]
    rows = []
    for g in [*groups, "all"]:
        row = [g]
        for index, (_, retrieval) in enumerate(systems):
            figures = retrieval["summary"] if g == "all" else retrieval[key].get(g, {})
            if index == 0:
                row.append(fmt("n", figures.get("n")))
            row += [fmt(name, figures.get(name)) for name, _ in RETRIEVAL_METRICS]
        rows.append(row)
    return header, rows


def _grade_rows(grades: dict[str, Any]) -> list[list[str]]:
    figures = grades["figures"]
    return [
        ["graded cases", str(figures["graded"])],
        *[[f"reviewer: {verdict}", str(count)] for verdict, count in figures["verdicts"].items()],
        ["reviewer acceptable (right or minor fault)", fmt("r", figures["acceptable_rate"])],
        ["automatic pass rate on the same cases", fmt("r", figures["automatic_pass_rate"])],
        ["agreement (automatic pass = reviewer acceptable)", fmt("r", figures["agreement"])],
    ]


# --- Markdown -----------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_bar(value: float | None, width: int = 20) -> str:
    if value is None:
        return ""
    full = round(max(0.0, min(1.0, value)) * width)
    return "█" * full + "░" * (width - full)


def render_markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    out = ["# Eval report", "",
           f"Run {meta['created']} against {meta['source']}, corpus_version `{meta['corpus_version']}`; "
           f"the assistant answered in {meta['assistant_seconds']} s.", ""]
    out += ["## Summary", "", _md_table(*headline_rows(result)), ""]
    for key, title in (("by_file", "Pass rate by file"), ("by_kind", "Pass rate by kind")):
        out += [f"## {title}", ""]
        mine = result["systems"]["assistant"][key]
        theirs = result["systems"].get("baseline", {}).get(key, {})
        rows = [[g, fmt("n", f["n"]), fmt("pass_rate", f["pass_rate"]), _md_bar(f["pass_rate"]),
                 fmt("pass_rate", theirs.get(g, {}).get("pass_rate")) if theirs else "n/a"]
                for g, f in mine.items()]
        out += [_md_table([key.removeprefix("by_"), "cases", "assistant", "", "baseline"], rows), ""]
    for key, title in (("by_file", "All metrics by file"), ("by_kind", "All metrics by kind")):
        out += [f"## {title}", "", _md_table(*_group_table(result, key)), ""]
    if any(s["retrieval"]["summary"]["n"] for s in result["systems"].values()):
        out += ["## Retrieval: recall@k of the labelled passages", "",
                "A result covers a passage when they share 100 characters of the review (the definition of "
                "`assistant bench retrieval`).", "",
                _md_table(*_retrieval_table(result, "by_file")), "", _md_table(*_retrieval_table(result, "by_kind")), ""]
    note = result["systems"]["assistant"]["retrieval"].get("note")
    if note:
        out += [f"Retrieval note: {note}", ""]
    if "grades" in result:
        grades = result["grades"]
        out += ["## Clinician grading", "", f"From `{grades['source']}`.", "",
                _md_table(["figure", "value"], _grade_rows(grades)), ""]
        if grades["disagreements"]:
            out += ["Cases where the reviewer and the automatic check disagree:", "",
                    _md_table(["case", "automatic", "reviewer", "comment"],
                              [[d["key"], d["automatic"], d["verdict"], d["comment"]] for d in grades["disagreements"]]),
                    ""]
    if "compare" in result:
        comparison = result["compare"]
        out += ["## Compared with the previous run", "",
                f"Previous run {comparison['old_created']} (corpus_version `{comparison['old_corpus_version']}`).", "",
                _md_table(["metric", "before", "now", "change"],
                          [[LABELS[n], fmt(n, m["old"]), fmt(n, m["new"]), m["change"]]
                           for n, m in comparison["metrics"].items()]), "",
                f"Improved ({len(comparison['improved'])}): {', '.join(comparison['improved']) or 'none'}", "",
                f"Regressed ({len(comparison['regressed'])}): "
                f"{', '.join(r['key'] for r in comparison['regressed']) or 'none'}", "",
                f"New cases: {len(comparison['new'])}; removed: {len(comparison['removed'])}.", ""]
    failed = [c for c in result["cases"] if not c["passed"]]
    out += [f"## Failed cases ({len(failed)})", ""]
    for case in failed:
        answer = case["answer"]
        out += [f"### {case['key']}", "",
                "Conversation: " + " / ".join(f"“{t}”" for t in case["turns"]), "",
                _md_table(["expected", "answered"],
                          [[json.dumps(case["expect"], ensure_ascii=False),
                            f"{answer['kind']}; options: {'; '.join(answer['options']) or 'none'}; "
                            f"level {answer['evidence_level']}; refs {answer['refs']}"]]), "",
                "Failures: " + "; ".join(case["failures"]), ""]
    skipped = [f for f in meta["files"] if f["kind"] == "other"]
    if skipped:
        out += ["## Files not scored", ""] + [f"- {f['name']}: {f['note']}" for f in skipped] + [""]
    return "\n".join(out)


# --- HTML ---------------------------------------------------------------------------------


def bar_chart(title: str, categories: list[str], series: dict[str, list[float | None]], *, percent: bool = True) -> str:
    """A horizontal grouped bar chart as inline SVG: one row per category, one bar per series."""
    bar, gap, label_width, plot_width = 14, 10, 220, 420
    per_row = bar * len(series) + gap
    height = 40 + per_row * len(categories) + 24
    top = max([v for values in series.values() for v in values if v is not None] + [1.0 if percent else 1e-9])
    scale = 1.0 if percent else top
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
             f'width="{label_width + plot_width + 80}" height="{height}" viewBox="0 0 {label_width + plot_width + 80} {height}">',
             f'<title>{escape(title)}</title>']
    for i, name in enumerate(series):
        x = label_width + i * 140
        parts.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{_SERIES_COLOURS[i % 4]}"/>'
                     f'<text x="{x + 14}" y="15" font-size="11">{escape(name)}</text>')
    for row, category in enumerate(categories):
        y0 = 32 + row * per_row
        parts.append(f'<text x="{label_width - 6}" y="{y0 + per_row / 2}" font-size="11" text-anchor="end">'
                     f'{escape(category)}</text>')
        for i, (name, values) in enumerate(series.items()):
            value = values[row]
            y = y0 + i * bar
            if value is None:
                parts.append(f'<text x="{label_width + 4}" y="{y + 11}" font-size="10" fill="#666">n/a</text>')
                continue
            width = max(1.0, plot_width * value / scale)
            shown = f"{100 * value:.1f}%" if percent else f"{value:.3f}"
            parts.append(f'<rect class="bar" x="{label_width}" y="{y}" width="{width:.1f}" height="{bar - 2}" '
                         f'fill="{_SERIES_COLOURS[i % 4]}"><title>{escape(f"{category}, {name}: {shown}")}</title></rect>'
                         f'<text x="{label_width + width + 4:.1f}" y="{y + 11}" font-size="10">{shown}</text>')
    parts.append(f'<line x1="{label_width}" y1="28" x2="{label_width}" y2="{height - 20}" stroke="#333"/>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;max-width:1400px;color:#111}
table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;
vertical-align:top;text-align:left}th{background:#f0f0f0}h2{border-bottom:1px solid #ccc;margin-top:2em}
.failed td{max-width:600px}.answer{white-space:pre-wrap;font-size:12px}.meta{color:#444}
.chart{display:block;margin:1em 0}.wide{overflow-x:auto}
"""


def render_html(result: dict[str, Any]) -> str:
    meta = result["meta"]
    systems = result["systems"]
    body = [f"<h1>Eval report</h1><p class=\"meta\">Run {escape(meta['created'])} against {escape(meta['source'])}, "
            f"corpus_version <code>{escape(meta['corpus_version'])}</code>; the assistant answered in "
            f"{meta['assistant_seconds']} s.</p>",
            "<h2>Summary</h2>", _html_table(*headline_rows(result), cls="summary")]
    for key, title in (("by_file", "Pass rate by file"), ("by_kind", "Pass rate by kind")):
        groups = list(systems["assistant"][key])
        series = {name: [s[key].get(g, {}).get("pass_rate") for g in groups] for name, s in systems.items()}
        body += [f"<h2>{title}</h2>", bar_chart(title, groups, series)]
    ratio_metrics = [n for n, _, higher in METRICS if higher]
    dev = {name: s["by_split"].get("dev", s["summary"]) for name, s in systems.items()}
    body += ["<h2>Metrics (committed cases)</h2>",
             bar_chart("Metrics on the committed cases", [LABELS[n] for n in ratio_metrics],
                       {name: [figures.get(n) for n in ratio_metrics] for name, figures in dev.items()})]
    for key, title in (("by_file", "All metrics by file"), ("by_kind", "All metrics by kind")):
        body += [f"<h2>{title}</h2>", f'<div class="wide">{_html_table(*_group_table(result, key))}</div>']
    retrieving = {n: s["retrieval"] for n, s in systems.items() if s["retrieval"]["summary"]["n"]}
    if retrieving:
        body += ["<h2>Retrieval: recall@k of the labelled passages</h2>",
                 bar_chart("Retrieval over all labelled questions", [label for _, label in RETRIEVAL_METRICS],
                           {n: [r["summary"][m] for m, _ in RETRIEVAL_METRICS] for n, r in retrieving.items()}),
                 f'<div class="wide">{_html_table(*_retrieval_table(result, "by_file"))}</div>',
                 f'<div class="wide">{_html_table(*_retrieval_table(result, "by_kind"))}</div>']
    note = systems["assistant"]["retrieval"].get("note")
    if note:
        body.append(f"<p>Retrieval note: {escape(note)}</p>")
    if "grades" in result:
        grades = result["grades"]
        body += ["<h2>Clinician grading</h2>", f"<p>From {escape(grades['source'])}.</p>",
                 _html_table(["figure", "value"], _grade_rows(grades), cls="grades")]
        if grades["disagreements"]:
            body += ["<p>Cases where the reviewer and the automatic check disagree:</p>",
                     _html_table(["case", "automatic", "reviewer", "comment"],
                                 [[d["key"], d["automatic"], d["verdict"], d["comment"]]
                                  for d in grades["disagreements"]], cls="disagreements")]
    if "compare" in result:
        comparison = result["compare"]
        body += ["<h2>Compared with the previous run</h2>",
                 f"<p>Previous run {escape(str(comparison['old_created']))}.</p>",
                 _html_table(["metric", "before", "now", "change"],
                             [[LABELS[n], fmt(n, m["old"]), fmt(n, m["new"]), m["change"]]
                              for n, m in comparison["metrics"].items()], cls="compare"),
                 f"<p>Improved ({len(comparison['improved'])}): {escape(', '.join(comparison['improved']) or 'none')}</p>",
                 f"<p>Regressed ({len(comparison['regressed'])}): "
                 f"{escape(', '.join(r['key'] for r in comparison['regressed']) or 'none')}</p>"]
    failed = [c for c in result["cases"] if not c["passed"]]
    rows = []
    for case in failed:
        answer = case["answer"]
        expected = (f"<b>{escape(case['key'])}</b><br>" + "<br>".join(f"“{escape(t)}”" for t in case["turns"])
                    + f"<br><code>{escape(json.dumps(case['expect'], ensure_ascii=False))}</code>"
                    + f"<br><i>{escape('; '.join(case['failures']))}</i>")
        answered = (f"{escape(answer['kind'])}; level {escape(str(answer['evidence_level']))}; refs "
                    f"{escape(str(answer['refs']))}<br>options: {escape('; '.join(answer['options']) or 'none')}"
                    f'<div class="answer">{escape(answer["text"])}</div>')
        rows.append(f"<tr><td>{expected}</td><td>{answered}</td></tr>")
    body += [f"<h2>Failed cases ({len(failed)})</h2>",
             '<table class="failed"><thead><tr><th>case and expectation</th><th>answer</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>"]
    skipped = [f for f in meta["files"] if f["kind"] == "other"]
    if skipped:
        body += ["<h2>Files not scored</h2><ul>"] + [f"<li>{escape(f['name'])}: {escape(f['note'])}</li>"
                                                     for f in skipped] + ["</ul>"]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>Eval report</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(result: dict[str, Any], folder: Path) -> list[Path]:
    """results.json, report.md and report.html in FOLDER (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "results.json", folder / "report.md", folder / "report.html"]
    paths[0].write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(render_markdown(result), encoding="utf-8")
    paths[2].write_text(render_html(result), encoding="utf-8")
    return paths


def print_table(result: dict[str, Any]) -> str:
    """The console view: headline, per file and per kind (pass rate and key metrics)."""
    lines = []
    header, rows = headline_rows(result)
    lines.append(_plain_table(header, rows))
    for key in ("by_file", "by_kind"):
        header, rows = _group_table(result, key)
        shown = {LABELS[n] for n in _CONSOLE} | {"baseline pass rate"}
        keep = [0, 1, *[i for i, h in enumerate(header) if h in shown]]
        lines.append(_plain_table([header[i] for i in keep], [[row[i] for i in keep] for row in rows]))
    if any(s["retrieval"]["summary"]["n"] for s in result["systems"].values()):
        lines.append(_plain_table(*_retrieval_table(result, "by_file")))
    return "\n\n".join(lines)


def _plain_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]])
