"""The tumour-board note: Markdown (and a printable HTML view) built from the Answer, not from the screen.

It holds what a board needs to check the advice: the facts as read with the user's words, the question,
each option with its role and evidence level, what is not offered and why, the warnings, every citation
with its quote, the corpus version, the date and the disclaimer.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import date

from markdown_it import MarkdownIt

from assistant.compose import md
from assistant.serve.render import (
    ROLE_LABELS,
    facts_markdown,
    field_items,
    field_text,
    reference_line,
)
from assistant.types import Answer, Reference

DISCLAIMER = ("Decision support from one review article (literature to 14 July 2024) and the studies it cites, "
              "not a prescription. Check current guidelines, the product label and the whole patient record; "
              "the treating team decides.")


def note_markdown(messages: Sequence[str], answer: Answer, references: Mapping[int, Reference], *,
                  when: date, package_version: str = "") -> str:
    """The note for the answer to the conversation's last message."""
    out = ["# Tumour-board note: HER2-expressing breast cancer", "",
           f"Date: {when.isoformat()} · corpus version {md(answer.corpus_version)}"
           + (f" · assistant {md(package_version)}" if package_version else ""), "",
           "## Patient facts as read", "", facts_markdown(answer.patient), "",
           "## Case as presented", ""]
    out += [f"{n}. {md(m)}" for n, m in enumerate(messages, start=1)]
    out += ["", "## Question", "", md(messages[-1]) if messages else "-", ""]
    out += ["## Recommendation", ""]
    if answer.recommendations:
        for n, rec in enumerate(answer.recommendations, start=1):
            marks = " ".join(f"[{md(c)}]" for c in rec.citations)
            out.append(f"{n}. **{ROLE_LABELS.get(rec.role, rec.role)}: {md(rec.option)}** "
                       f"(ESMO evidence level {rec.evidence_level}). {md(rec.rationale)} {marks}".rstrip())
            if rec.note:
                out.append(f"   - Caveat: {md(rec.note)}")
    else:
        out += [f"No recommendation ({answer.kind}). The assistant's answer:", "", answer.text.strip()]
    out += ["", "## Not offered, and why", ""]
    not_offered = field_items(answer, "not_offered")
    out += [f"- {field_text(item)}" for item in not_offered] if not_offered else ["- None recorded by the decision rules."]
    out += ["", "## Warnings", ""]
    warnings = [field_text(item) for item in field_items(answer, "warnings")]
    if answer.safety_note:
        warnings.append(md(answer.safety_note))
    out += [f"- {w}" for w in warnings] if warnings else ["- None."]
    if answer.what_would_change:
        out += ["", "## What would change this", ""]
        out += [f"- {md(c.condition or c.fact)}: {md(c.preferred) if c.preferred else 'no recommendation'}"
                for c in answer.what_would_change]
    out += ["", "## Citations", ""]
    if not answer.citations:
        out.append("- None.")
    for citation in answer.citations:
        out += [f"**[{md(citation.id)}]** {reference_line(citation, references)}; review section "
                f"{md(citation.section or '-')}", "", f"> {md(citation.quote)}", ""]
    out += ["", "---", "", f"_{DISCLAIMER}_", ""]
    return "\n".join(out)


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")  # raw HTML in the text stays text

_PRINT_CSS = """body{font:11pt/1.45 system-ui,sans-serif;max-width:48em;margin:2em auto;color:#111}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em;text-align:left}
blockquote{border-left:3px solid #999;margin:.4em 0 .8em;padding:0 .8em;color:#333}
@media print{body{margin:0}a{color:inherit}}"""


def note_html(markdown: str) -> str:
    """A printable page of the note (no scripts, no outside resources)."""
    body = _MARKDOWN.render(markdown)
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape('Tumour-board note')}</title><style>{_PRINT_CSS}</style></head>"
            f"<body>{body}</body></html>")
