"""An Answer as the chat shows it: badges, nested sources, escaped user words, fields added later."""

from __future__ import annotations

from assistant.compose import md
from assistant.conversation import Assistant
from assistant.serve.render import answer_markdown, answer_messages, facts_markdown, suggestions

CASE = "HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of chemotherapy."


def test_recommendation_shows_role_badge_and_nested_closed_sources(assistant: Assistant) -> None:
    answer = assistant.answer([CASE])
    references = {r.number: r for r in assistant.index.review.references}
    messages = answer_messages(answer, references, turn=1)
    main, parent, *children = messages
    assert "**Preferred: trastuzumab deruxtecan \\(T-DXd\\)**" in main["content"]  # escaped Markdown
    assert 'title="ESMO level I: at least one large randomised' in main["content"]
    assert parent["metadata"] == {"title": f"Sources ({len(answer.citations)})", "id": "sources-1", "status": "done"}
    assert len(children) == len(answer.citations)
    for child, citation in zip(children, answer.citations, strict=True):
        assert child["metadata"]["parent_id"] == "sources-1"
        assert child["metadata"]["status"] == "done"  # closed at first
        assert f"> {md(citation.quote)}" in child["content"]
    assert parent["options"][0] == {"value": "Why?", "label": "Why?"}
    assert "options" not in main


def test_not_offered_and_warnings_render_when_present(assistant: Assistant) -> None:
    base = assistant.answer([CASE])
    declined = assistant.answer([f"{CASE} She declined Enhertu because of hair loss. LVEF 38% with heart failure."])
    shown = answer_markdown(declined)
    assert "**Not offered:**" in shown
    assert "**trastuzumab deruxtecan \\(T-DXd\\)**: declined by the patient" in shown
    assert "**Warnings:**" in shown
    assert "LVEF 38%" in shown
    assert "**Not offered:**" not in answer_markdown(base)


def test_facts_table_escapes_the_users_words() -> None:
    table = facts_markdown({"her2": {"value": "low", "words": "<img src=x onerror=alert(1)>|1+", "turn": 1},
                            "therapies": [{"therapy": "taxane", "received": True, "progressed": True,
                                           "current": False, "words": "docetaxel", "turn": 2}]})
    assert "<img" not in table
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;\\|1+" in table
    assert "| Treatment | taxane (received, progressed) | “docetaxel” | 2 |" in table


def test_suggestions_are_why_and_what_if_for_a_recommendation_only(assistant: Assistant) -> None:
    answer = assistant.answer([CASE])
    assert suggestions(answer) == ["Why?", "What if the tumour were HER2-ultralow?",
                                   "What if the tumour were hormone-receptor negative?"]
    assert suggestions(assistant.answer(["What did DESTINY-Breast04 show?"])) == []
