"""The Gradio chat: options with badges, nested sources, the facts panel, follow-ups, export and About.

The conversation's user messages live in the browser session's gr.State and are sent whole to
`Assistant.answer` on every turn (the same call the API makes), so a correction typed in the facts panel
is simply one more message and the conversation stays the one source of truth. Nothing is logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import gradio as gr
from fastapi import FastAPI
from gradio.components.chatbot import MetadataDict

from assistant.compose import md
from assistant.serve.api import package_version
from assistant.serve.note import note_markdown
from assistant.serve.render import (
    EVIDENCE_SCALE,
    answer_messages,
    badge,
    conversation_markdown,
    facts_markdown,
    legend,
)
from assistant.settings import Settings
from assistant.types import Answer

EXAMPLES = (
    "HER2-positive metastatic breast cancer, progressed on trastuzumab, pertuzumab and docetaxel. Next line?",
    "HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of chemotherapy. What next?",
    "HER2-positive MBC with active brain metastases after trastuzumab and a taxane: which ADC or TKI?",
    "What did DESTINY-Breast04 show?",
)

# Built in the browser from the hidden export text: no file passes through Gradio's shared file cache.
def _download_js(filename: str) -> str:
    return """(text) => {
  const blob = new Blob([text || ''], {type: 'text/markdown;charset=utf-8'});
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = 'FILENAME';
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}""".replace("FILENAME", filename)

History = list[Any]  # message dicts and gr.ChatMessage


def _eval_table(settings: Settings) -> str:
    """The eval results table of docs/evals.md (the latest recorded run), or a pointer when it is absent."""
    path = settings.corpus_dir.parent / "docs" / "evals.md"
    if not path.exists():
        return "_No eval results recorded (docs/evals.md)._"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    table = lines[: next((i for i, line in enumerate(lines[2:], start=2) if not line.startswith("| `")), len(lines))]
    return "\n".join(table)


def about_markdown(app: FastAPI, settings: Settings, provenance: Mapping[str, Any]) -> str:
    publication = provenance["publication"]
    assistant = app.state.assistant
    rules = len(assistant.rules) if assistant is not None else "?"
    cards = len(assistant.index.cards) if assistant is not None else "?"
    version = assistant.corpus_version if assistant is not None else "(loading)"
    scale = "\n".join(f"- {badge(level)} {text}" for level, text in EVIDENCE_SCALE.items())
    return f"""## About this assistant

**Intended use.** Decision support for oncologists and oncology teams treating HER2-expressing breast cancer
(HER2-positive, -low, -ultralow and -0) around antibody-drug conjugates: which option the source review and the
studies it cites support, how strong that evidence is and the exact passage behind it. It is not a prescription,
not for patients to use alone, and not a substitute for current guidelines, the product label or the whole record.

**Source.** One review article: *{md(publication["title"])}* ({md(", ".join(a.split(" (")[0] for a in publication["authors"]))}),
literature to {md(str(publication["literature_cutoff"]).split(" (")[0])}; {publication["references"]} references.
Corpus version (review, study cards, rules, index) **{md(version)}**.

**Knowledge.** {rules} recommendation rules and {cards} study cards (design, results with sources, ESMO level, and
where the review differs from the primary publication).

**ESMO levels of evidence** (shown as a badge beside each option; hover for the meaning):

{scale}

**Latest eval results** (docs/evals.md; CI fails below the thresholds in evals/thresholds.json):

{_eval_table(settings)}

**Limitations.** One review, literature to mid-2024: newer trials and label changes are not known. No dosing or
toxicity management. The facts are read from your words by rules, not by a language model: check the facts panel,
and correct a misread fact there. Where the review misstates a trial, the answer says so beside the primary figure.
Evidence levels come from the study cards, not from the review.

**How to check an answer.** Every option carries its evidence level and citation markers; open **Sources** under
the answer to read each passage verbatim, with its section and reference (trial, journal, year). The facts panel
shows what was read from which of your words. `GET /api/version` and the export carry the corpus version that
answered; `POST /api/answer` returns the same Answer object as this chat and `assistant ask --json`.
"""


def build_chat(app: FastAPI, settings: Settings, provenance: Mapping[str, Any]) -> gr.Blocks:
    """The Blocks; handlers read the process's Assistant from app.state when they run."""
    texts: dict[str, str] = app.state.texts

    def answer_turn(text: str, messages: list[str], answers: list[dict[str, Any]], history: History
                    ) -> tuple[History, list[str], list[dict[str, Any]], str, str, str, str]:
        text = (text or "").strip()
        assistant = app.state.assistant
        if not text:
            return history, messages, answers, gr.skip(), gr.skip(), gr.skip(), ""
        if assistant is None:
            raise gr.Error(texts["not_ready"])
        if len(messages) >= settings.max_messages:
            raise gr.Error(texts["too_many_messages"].format(count=settings.max_messages))
        if len(text) > settings.max_message_chars:
            raise gr.Error(texts["too_large"].format(limit=settings.max_request_bytes, chars=settings.max_message_chars,
                                                     count=settings.max_messages))
        messages = [*messages, text]
        answer: Answer = assistant.answer(messages)
        answers = [*answers, answer.model_dump(mode="json")]
        shown = [gr.ChatMessage(role="assistant", content=m["content"], metadata=m.get("metadata") or MetadataDict(),
                                options=m.get("options") or [])
                 for m in answer_messages(answer, app.state.references, len(messages))]
        history = [*_without_options(history), {"role": "user", "content": md(text)}, *shown]
        export = conversation_markdown(messages, [Answer.model_validate(a) for a in answers], app.state.references)
        note = note_markdown(messages, answer, app.state.references, when=date.today(),
                             package_version=package_version())
        return history, messages, answers, facts_markdown(answer.patient), export, note, ""

    def on_option(evt: gr.SelectData, messages: list[str], answers: list[dict[str, Any]], history: History
                  ) -> tuple[History, list[str], list[dict[str, Any]], str, str, str, str]:
        return answer_turn(str(evt.value), messages, answers, history)

    def on_example(evt: gr.SelectData, messages: list[str], answers: list[dict[str, Any]], history: History
                   ) -> tuple[History, list[str], list[dict[str, Any]], str, str, str, str]:
        value = evt.value["text"] if isinstance(evt.value, dict) else str(evt.value)
        return answer_turn(value, messages, answers, history)

    def on_correction(correction: str, messages: list[str], answers: list[dict[str, Any]], history: History
                      ) -> tuple[History, list[str], list[dict[str, Any]], str, str, str, str]:
        correction = (correction or "").strip()
        if not correction:
            raise gr.Error(texts["correction_empty"])
        if not re.match(r"(?i)\s*correction\b", correction):
            correction = f"Correction: {correction}"
        return answer_turn(correction, messages, answers, history)

    def new_conversation() -> tuple[History, list[str], list[dict[str, Any]], str, str, str, str]:
        return [], [], [], facts_markdown({}), "", "", ""

    def about() -> str:
        return about_markdown(app, settings, provenance)

    def prefill(request: gr.Request) -> Any:
        """A link from a CDS card (?q=...) opens the chat with the case typed in, not yet sent; without one the
        textbox is left alone (clearing it would race a clinician who is already typing)."""
        case = str(request.query_params.get("q", ""))[: settings.max_message_chars]
        return case or gr.skip()

    with gr.Blocks(title="HER2 ADC guideline assistant", analytics_enabled=False, fill_width=True) as blocks:
        gr.Markdown(f"# HER2 ADC guideline assistant\n{md(texts['disclaimer'])}")
        messages = gr.State([])
        answers = gr.State([])
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"), gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation", elem_id="chat", height="75vh", buttons=["copy", "copy_all"],
                        feedback_options=None, allow_tags=False, sanitize_html=True, render_markdown=True,
                        allow_file_downloads=False, placeholder=md(texts["intro"]),
                        examples=[{"text": e} for e in EXAMPLES], group_consecutive_messages=True)
                    question = gr.Textbox(show_label=False, elem_id="question", lines=1, max_lines=8,
                                          placeholder="Describe the patient or ask about a trial", submit_btn="Send")
                    with gr.Row():
                        new = gr.Button("New conversation", elem_id="new-conversation", variant="secondary")
                        export_button = gr.Button("Export as Markdown", elem_id="export", variant="secondary")
                        note_button = gr.Button("Tumour-board note", elem_id="note", variant="secondary")
                with gr.Column(scale=2, elem_id="facts-panel"):
                    gr.Markdown("### Patient facts as read")
                    facts = gr.Markdown(facts_markdown({}), elem_id="facts")
                    correction = gr.Textbox(label="Correct a fact", elem_id="correction", lines=1,
                                            placeholder="e.g. HER2 is IHC 0 (sent as a new message)")
                    correct = gr.Button("Send correction", elem_id="send-correction")
                    gr.Markdown(legend(), elem_id="legend")
            with gr.Tab("About", id="about"):
                about_text = gr.Markdown(elem_id="about")
        export_text = gr.Textbox(visible=False)
        note_text = gr.Textbox(visible=False)

        state = [messages, answers, chatbot]
        outputs = [chatbot, messages, answers, facts, export_text, note_text]
        _submit(question.submit, answer_turn, [question, *state], [*outputs, question])
        _submit(chatbot.option_select, on_option, state, [*outputs, question])
        _submit(chatbot.example_select, on_example, state, [*outputs, question])
        _submit(correct.click, on_correction, [correction, *state], [*outputs, correction])
        new.click(new_conversation, None, [*outputs, question], queue=False, api_visibility="private")
        # the chatbot's own clear (bin) button must forget the messages too, or the next turn would replay them
        chatbot.clear(new_conversation, None, [*outputs, question], queue=False, api_visibility="private")
        export_button.click(None, [export_text], None, js=_download_js("conversation.md"), api_visibility="private")
        note_button.click(None, [note_text], None, js=_download_js("tumour-board-note.md"), api_visibility="private")
        blocks.load(about, None, about_text, api_visibility="private")
        blocks.load(prefill, None, question, api_visibility="private")
    built: gr.Blocks = blocks
    return built


def _submit(event: Callable[..., Any], fn: Callable[..., Any], inputs: list[Any], outputs: list[Any]) -> None:
    event(fn, inputs, outputs, api_visibility="private", show_progress="minimal")


def _without_options(history: History) -> History:
    """Follow-up buttons belong to the last answer only."""
    out = []
    for message in history:
        if isinstance(message, dict) and message.get("options"):
            message = {**message, "options": []}
        out.append(message)
    return out
