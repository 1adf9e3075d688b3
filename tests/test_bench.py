"""The benchmark's labelled retrieval sets and its scoring."""

from __future__ import annotations

import re

import pytest

from assistant.bench import (
    RETRIEVAL_SETS,
    SECOND_ANNOTATOR,
    LabelledQuestion,
    SecondLabel,
    load_questions,
    load_second_labels,
    score,
    second_annotator_line,
)
from tests.conftest import CORPUS

EVALS = CORPUS.parent / "evals"


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("name", RETRIEVAL_SETS)
def test_every_label_is_a_passage_and_every_quote_is_in_a_labelled_passage(corpus, name: str) -> None:  # type: ignore[no-untyped-def]
    questions = load_questions(EVALS / name)
    assert len(questions) >= 40
    passages = {p.id: p for p in corpus.review.passages}
    for question in questions:
        assert question.passages, question.id
        assert set(question.passages) | set(question.also) <= passages.keys(), question.id
        # back matter ("who funded it?") is labelled with its own passage; the title only answers "what is it called?"
        assert all(passages[p].kind != "title" or re.search(r"\b(?:title|called|named|name)\b", question.question.lower())
                   for p in question.passages), question.id
        for quote in question.evidence:  # the old sets quote the original's spacing ("25.7 %")
            assert any(_squeeze(quote) in _squeeze(passages[p].text) for p in question.passages), question.id


def test_question_ids_are_unique_across_the_sets() -> None:
    ids = [q.id for name in RETRIEVAL_SETS for q in load_questions(EVALS / name)]
    assert len(ids) == len(set(ids))


def test_recall_needs_every_labelled_passage_and_mrr_the_first_hit() -> None:
    two = LabelledQuestion(id="A", question="q", passages=("p1", "p2"), evidence=("e",), kind="k")
    one = LabelledQuestion(id="B", question="q", passages=("p3",), evidence=("e",), kind="k")
    quality = score([[["x"], ["p1"], ["y"]], [["p3", "p1"]]], [two, one])
    assert quality.recall_at_1 == pytest.approx(0.5)  # B found first; A's first result is wrong
    assert quality.recall_at_5 == pytest.approx((0.5 + 1.0) / 2)
    assert quality.hit_at_5 == 1.0
    assert quality.mrr == pytest.approx((1 / 2 + 1) / 2)


def test_the_second_annotators_labels_name_passages_of_labelled_questions(corpus) -> None:  # type: ignore[no-untyped-def]
    labels = load_second_labels(EVALS / SECOND_ANNOTATOR)
    ids = {q.id for name in RETRIEVAL_SETS for q in load_questions(EVALS / name)}
    passages = {p.id for p in corpus.review.passages}
    assert len(labels) == 100
    assert labels.keys() <= ids
    for label in labels.values():
        assert label.best in label.required
        assert set(label.required) | set(label.alternatives) <= passages


def test_agreement_line_counts_same_labels_and_scores_the_system_on_theirs() -> None:
    question = LabelledQuestion(id="A", question="q", passages=("p1",), evidence=("e",), kind="k")
    other = LabelledQuestion(id="B", question="q", passages=("p2",), evidence=("e",), kind="k")
    labels = {"A": SecondLabel(id="A", best="p1", required=("p1",)), "B": SecondLabel(id="B", best="p3", required=("p3",))}
    line = second_annotator_line(labels, [question, other], {"A": [["p1"]], "B": [["p2"]]})
    assert "on 2 of these questions: same passages for 1" in line
    assert "recall@5 0.500 on their labels, 1.000 on ours" in line
