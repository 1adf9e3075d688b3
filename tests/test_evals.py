"""The eval sets, gated at their committed thresholds, and what every answer must satisfy.

Every answer of every case is checked for: citation quotes verbatim in the indexed text, cited
references within the review's 57, numbers in the text found in a study card or a quoted passage,
a safety note on every recommendation, the contract's fields. Goldens (tests/golden/) pin the
answers; regenerate with --update-golden and read the diff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from assistant.conversation import Assistant
from assistant.evaluate import CaseResult, load_aliases, load_cases, run_cases
from assistant.types import Answer
from tests.conftest import EVALS

GOLDEN = EVALS.parent / "tests" / "golden"
SETS = ["examples.jsonl", "cases.jsonl", "heldout.jsonl", "blind2.jsonl", "blind3.jsonl", "blind4.jsonl",
        "notes/notes_blind.jsonl", "blind5/blind5.jsonl", "blind6/blind6.jsonl", "blind7/blind7.jsonl",
        "blind8/blind8.jsonl", "blind9/blind9.jsonl", "blind10/blind10.jsonl",
        "blind11/blind11.jsonl"]


@pytest.fixture(scope="session")
def results(assistant: Assistant) -> dict[str, list[CaseResult]]:
    aliases = load_aliases(EVALS / "aliases.json")
    return {name: run_cases(load_cases(EVALS / name), assistant.answer, aliases) for name in SETS}


def _answers(results: dict[str, list[CaseResult]]) -> Iterator[tuple[str, Answer]]:
    for name in SETS:
        for result in results[name]:
            yield f"{name}:{result.id}", result.answer


@pytest.mark.parametrize("name", SETS)
def test_pass_rate_meets_the_committed_threshold(results: dict[str, list[CaseResult]], name: str) -> None:
    threshold = json.loads((EVALS / "thresholds.json").read_text())[name]
    passed = [r for r in results[name] if r.passed]
    failures = "\n".join(f"{r.id}: {'; '.join(r.failures)}" for r in results[name] if not r.passed)
    assert len(passed) / len(results[name]) >= threshold, failures


def test_the_own_eval_set_is_broad() -> None:
    cases = load_cases(EVALS / "cases.jsonl")
    kinds = {case.expect.kind for case in cases}
    assert len(cases) >= 120
    assert kinds >= {"recommendation", "fact", "explanation", "clarification", "out_of_scope"}
    assert sum(len(case.turns) > 1 for case in cases) >= 10


def test_every_quote_is_verbatim_in_the_indexed_text(results, index) -> None:  # type: ignore[no-untyped-def]
    indexed = [chunk.text for chunk in index.chunks]
    passages = {p.id: p.text for p in index.review.passages}
    for label, answer in _answers(results):
        for citation in answer.citations:
            assert any(citation.quote in text for text in indexed) or citation.quote in passages.get(
                citation.passage_id or "", ""), (label, citation.id)


def test_every_cited_reference_is_one_of_the_reviews_57(results) -> None:  # type: ignore[no-untyped-def]
    for label, answer in _answers(results):
        for citation in answer.citations:
            assert citation.ref is None or 1 <= citation.ref <= 57, label
        ids = {c.id for c in answer.citations}
        for recommendation in answer.recommendations:
            assert set(recommendation.citations) <= ids, label


def test_quote_offsets_point_at_the_original_words(results, corpus) -> None:  # type: ignore[no-untyped-def]
    for label, answer in _answers(results):
        for citation in answer.citations:
            assert citation.spans, (label, citation.id)
            first = corpus.original[citation.spans[0].start:citation.spans[0].end]
            assert first.split()[0].strip("*") == citation.quote.split()[0], (label, citation.id)


def test_every_recommendation_carries_a_safety_note_and_an_evidence_level(results) -> None:  # type: ignore[no-untyped-def]
    for label, answer in _answers(results):
        if answer.kind == "recommendation":
            assert answer.recommendations or answer.not_offered, label  # all ruled out: said, with the reasons
            assert answer.safety_note, label
            assert "**Safety:**" in answer.text, label
            preferred = [r for r in answer.recommendations if r.role == "preferred"]
            if preferred:
                assert answer.evidence_level == preferred[0].evidence_level, label
            else:
                assert answer.evidence_level is None, label
                assert "no option is preferred" in answer.text.lower(), label
        else:
            assert answer.recommendations == (), label


_NUMBER = re.compile(r"(?<![\w./-])(\d+(?:\.\d+)?)(?![\w/])")


def _allowed_numbers(answer: Answer, cards, review) -> set[str]:  # type: ignore[no-untyped-def]
    """Numbers an answer may show: from its quotes, the cited cards, the patient's own words."""
    sources = [c.quote for c in answer.citations] + [json.dumps(answer.patient), *answer.follow_up]
    for card in cards:
        named = any(name in answer.text for name in card.names)
        if named or any(ref in {c.ref for c in answer.citations} for ref in card.refs):
            sources.append(card.model_dump_json())
    sources += [p.section or "" for p in review.passages]  # section numbers ("review section 5.1")
    sources.append(review.passage("review:data-availability:p1").text)  # the literature cut-off date
    sources.append((EVALS.parent / "corpus" / "provenance.yaml").read_text())  # what is known of the review
    return {n for text in sources for n in _NUMBER.findall(text)}


def test_every_number_in_the_text_comes_from_a_card_or_a_quote(results, index) -> None:  # type: ignore[no-untyped-def]
    for label, answer in _answers(results):
        text = re.sub(r"\[[^\]]*\]", " ", answer.text)  # citation markers
        text = re.sub(r"^\s*\d+\.\s", " ", text, flags=re.M)  # list numbering
        text = text.replace("95% CI", " ")  # the label format_result puts on a card's interval
        allowed = _allowed_numbers(answer, index.cards, index.review)
        unsupported = {n for n in _NUMBER.findall(text) if n not in allowed}
        assert not unsupported, (label, sorted(unsupported))


def test_answers_match_the_contract_fields(results) -> None:  # type: ignore[no-untyped-def]
    required = {"kind", "text", "recommendations", "citations", "evidence_level", "patient", "follow_up", "rule_ids",
                "corpus_version"}
    for label, answer in _answers(results):
        dumped = answer.model_dump(mode="json")
        assert required <= dumped.keys(), label
        for citation in dumped["citations"]:
            assert {"id", "ref", "trial", "title", "section", "quote"} <= citation.keys()
        for recommendation in dumped["recommendations"]:
            assert {"option", "role", "rationale", "evidence_level", "citations"} <= recommendation.keys()


@pytest.mark.parametrize("name", SETS)
def test_answers_match_their_goldens(results, name: str, request: pytest.FixtureRequest) -> None:  # type: ignore[no-untyped-def]
    path = GOLDEN / name
    current = "".join(
        json.dumps({"id": r.id, "answer": r.answer.model_dump(mode="json", exclude={"corpus_version"})},
                   ensure_ascii=False, sort_keys=True) + "\n"
        for r in results[name]
    )
    if request.config.getoption("--update-golden"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(current, encoding="utf-8")
    golden = path.read_text(encoding="utf-8").splitlines()
    for expected, actual in zip(golden, current.splitlines(), strict=True):
        assert json.loads(actual) == json.loads(expected), json.loads(expected)["id"]
