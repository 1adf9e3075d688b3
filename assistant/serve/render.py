"""An Answer as the chat shows it: messages with badges and nested sources, the facts table, Markdown export.

Built from the Answer's fields, never from its text alone, so every surface shows the same options, levels
and quotes. Every string that came from a user (the patient's words) passes through `md` (escaped), and
fields other engineers add later (`not_offered`, `warnings`) are read with getattr so this module works
whether or not they exist yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from assistant.compose import md
from assistant.types import Answer, Citation, Reference

# ESMO levels of evidence, as in the answer contract (../shared/contract/answer.md).
EVIDENCE_SCALE: dict[str, str] = {
    "I": "at least one large randomised controlled trial of good methodological quality, or meta-analyses of such trials without heterogeneity",
    "II": "small randomised trials, or large randomised trials with a suspicion of bias, or meta-analyses of such trials or of trials with heterogeneity",
    "III": "prospective cohort studies",
    "IV": "retrospective cohort studies or case-control studies",
    "V": "studies without a control group, case reports, expert opinion",
}
ROLE_LABELS = {"preferred": "Preferred", "alternative": "Alternative", "consider": "Consider"}
FACT_LABELS = {
    "her2": "HER2", "hr": "Hormone receptors", "setting": "Setting", "pcr": "pCR after neoadjuvant therapy",
    "line": "Line of therapy", "de_novo": "De novo", "brain_mets": "Brain metastases",
    "oligoprogression": "Oligoprogression", "ild": "History of ILD/pneumonitis", "access_limited": "Cost or access limits",
    "treatment_naive": "Treatment-naive", "cdk_months": "Months on a CDK4/6 inhibitor", "therapies": "Treatment",
    "biomarkers": "Biomarker", "topics": "Topic",
}


def badge(level: str | None) -> str:
    """An evidence-level badge whose hover text explains the level (an `abbr` survives the sanitiser)."""
    if not level:
        return ""
    meaning = EVIDENCE_SCALE.get(level, "")
    return f'<abbr class="evidence-badge level-{level}" title="ESMO level {level}: {meaning}">Level {level}</abbr>'


def legend() -> str:
    return "**ESMO levels of evidence**\n\n" + "\n".join(
        f"- {badge(level)} {text}" for level, text in EVIDENCE_SCALE.items())


def field_text(value: object) -> str:
    """A field value of unknown shape (string, model, dict) as escaped text."""
    if isinstance(value, str):
        return md(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        main = next((value[k] for k in ("option", "message", "text", "title", "summary") if value.get(k)), None)
        why = next((value[k] for k in ("reason", "why", "detail", "rationale") if value.get(k)), None)
        level = value.get("evidence_level") or value.get("level")
        parts = [f"**{md(main)}**" if main else "", md(why) if why else ""]
        out = ": ".join(p for p in parts if p)
        if not out:
            out = "; ".join(f"{md(k)}: {md(v)}" for k, v in value.items() if v not in (None, "", [], ()))
        return out + (f" {badge(str(level))}" if isinstance(level, str) and level in EVIDENCE_SCALE else "")
    return md(value)


def field_items(answer: Answer, name: str) -> list[object]:
    value = getattr(answer, name, None)
    if not value:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def reference_line(citation: Citation, references: Mapping[int, Reference]) -> str:
    """Trial, journal, year and reference number of a citation, or the review itself."""
    if citation.ref is None:
        return f"The review itself: {md(citation.title)}"
    ref = references.get(citation.ref)
    trial = f"{md(citation.trial)}: " if citation.trial else ""
    if ref is None:
        return f"{trial}{md(citation.title)} [ref {citation.ref}]"
    year = f" {ref.year}" if ref.year else ""
    return f"{trial}{md(ref.title)}. _{md(ref.journal)}_{year} [ref {citation.ref}]"


def citation_body(citation: Citation, references: Mapping[int, Reference]) -> str:
    where = f"Review section {md(citation.section)}" if citation.section else "Review"
    return f"> {md(citation.quote)}\n\n{where} · {reference_line(citation, references)}"


def _first_paragraph(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def answer_markdown(answer: Answer) -> str:
    """The main message: for a recommendation its options with roles and badges, else the answer's text."""
    if answer.kind != "recommendation" or not answer.recommendations:
        body = answer.text.strip()
        if answer.evidence_level and answer.kind in {"fact", "explanation"}:
            body = f"{badge(answer.evidence_level)} {body}"
        if answer.follow_up and "To answer" not in answer.text:
            body += "\n\n" + "\n".join(f"- {md(q)}" for q in answer.follow_up)
        return body
    lines = [_first_paragraph(answer.text), ""]
    for number, rec in enumerate(answer.recommendations, start=1):
        marks = " ".join(f"[{md(c)}]" for c in rec.citations)
        lines.append(f"{number}. **{ROLE_LABELS.get(rec.role, rec.role)}: {md(rec.option)}** "
                     f"{badge(rec.evidence_level)}  \n   {md(rec.rationale)} {marks}".rstrip())
        if rec.note:
            lines.append(f"   \n   _Where the review and the primary source differ, or caution is needed:_ {md(rec.note)}")
    not_offered = field_items(answer, "not_offered")
    if not_offered:
        lines += ["", "**Not offered:**"] + [f"- {field_text(item)}" for item in not_offered]
    warnings = field_items(answer, "warnings")
    if warnings:
        lines += ["", "**Warnings:**"] + [f"- ⚠ {field_text(item)}" for item in warnings]
    if answer.what_would_change:
        lines += ["", "**What would change this:**"]
        lines += [f"- {_sentence_case(md(c.condition or f'{c.fact}: {c.alternative} rather than {c.now}'))}: "
                  f"{md(c.preferred) if c.preferred else 'no recommendation from the review'}"
                  for c in answer.what_would_change]
    if answer.safety_note:
        lines += ["", f"**Safety:** {md(answer.safety_note)}"]
    return "\n".join(lines).strip()


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def answer_messages(answer: Answer, references: Mapping[int, Reference], turn: int) -> list[dict[str, Any]]:
    """Openai-style assistant messages: the answer, then one closed "Sources" block with a child per quote.

    `turn` keeps the block ids unique across the conversation (Gradio nests by id/parent_id).
    """
    main: dict[str, Any] = {"role": "assistant", "content": answer_markdown(answer)}
    messages = [main]
    if answer.citations:
        parent = f"sources-{turn}"
        messages.append({"role": "assistant", "content": "",
                         "metadata": {"title": f"Sources ({len(answer.citations)})", "id": parent, "status": "done"}})
        for citation in answer.citations:
            trial = f" {citation.trial}" if citation.trial else ""
            messages.append({"role": "assistant", "content": citation_body(citation, references),
                             "metadata": {"title": f"[{citation.id}]{trial}, section {citation.section or '-'}",
                                          "id": f"{parent}-{citation.id}", "parent_id": parent, "status": "done"}})
    options = [{"value": q, "label": q} for q in suggestions(answer)]
    if options:  # Gradio shows the options of the last top-level message (children fold into their parent)
        top = [m for m in messages if not m.get("metadata", {}).get("parent_id")]
        top[-1]["options"] = options
    return messages


def suggestions(answer: Answer, limit: int = 3) -> list[str]:
    """One-click follow-ups for the last message: "Why?" and the "what if" of each fact that would change
    the choice (the conversation reads both; the "rather than" half is left out, as the facts say it)."""
    if answer.kind != "recommendation" or not answer.recommendations:
        return []
    what_if = [f"What if {c.condition.removeprefix('if ').split(' rather than ')[0]}?"
               for c in answer.what_would_change if c.condition]
    return ["Why?", *what_if[: limit - 1]]


def _fact_rows(patient: Mapping[str, object]) -> Iterable[tuple[str, str, str, str]]:
    for name, value in patient.items():
        label = FACT_LABELS.get(name, name.replace("_", " ").capitalize())
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            if not isinstance(entry, Mapping):
                yield label, md(entry), "", ""
                continue
            if "therapy" in entry:
                state = ("not received" if not entry.get("received") else
                         ", ".join(w for w, on in (("received", True), ("progressed", entry.get("progressed")),
                                                   ("current", entry.get("current"))) if on))
                shown = f"{md(entry['therapy'])} ({state})"
            elif "marker" in entry:
                shown = f"{md(entry['marker'])} {'altered' if entry.get('positive') else 'not altered'}"
            else:
                raw = entry.get("value")
                shown = "yes" if raw is True else "no" if raw is False else md(raw)
            yield label, shown, md(entry.get("words", "")), str(entry.get("turn", ""))


def facts_markdown(patient: Mapping[str, object]) -> str:
    """The facts as read, each with the user's words and the message it came from."""
    rows = [r for r in _fact_rows(patient) if not r[1].startswith("adc ")]
    if not rows:
        return "_No patient facts read yet._"
    lines = ["| fact | read as | your words | turn |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | “{c}” | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def conversation_markdown(messages: Sequence[str], answers: Sequence[Answer],
                          references: Mapping[int, Reference]) -> str:
    """The whole conversation for export: each question, its answer and its quotes, with the corpus version."""
    out = ["# Conversation with the HER2 ADC guideline assistant", ""]
    for number, (message, answer) in enumerate(zip(messages, answers, strict=True), start=1):
        out += [f"## Question {number}", "", md(message), "", "### Answer", "", answer.text.strip(), ""]
        if answer.citations:
            out += ["### Sources", ""]
            for citation in answer.citations:
                out += [f"**[{citation.id}]** {reference_line(citation, references)}, section {citation.section or '-'}",
                        "", f"> {md(citation.quote)}", ""]
        out += [f"_kind {answer.kind}; evidence level {answer.evidence_level or '-'}; "
                f"corpus_version {answer.corpus_version}_", ""]
    out += ["Decision support from one review and the studies it cites, not a prescription.", "",
            "## Appendix: the Answer objects (the API's format, for audit)", ""]
    for number, answer in enumerate(answers, start=1):
        out += [f"Answer {number}:", "", "```json", answer.model_dump_json(indent=2), "```", ""]
    return "\n".join(out)
