"""A study the review never names: the answer says so and names it first, and shows only what the review says of the
drug or topic asked (the drug's own studies), never a passage on something else nor that passage's evidence level.
(Whether understanding reads the name as an uncovered study, a refusal, or not, an explanation, the user sees this.)"""

from __future__ import annotations

import pytest

from assistant.conversation import Assistant
from assistant.types import Answer


def _not_covered(answer: Answer) -> str:
    """The line that says what the review does not cover (first in an explanation; after a refusal's reason)."""
    return next((line for line in answer.text.split("\n") if line.startswith("**Not covered by the review:**")), "")


@pytest.mark.parametrize(("question", "name"), [
    ("What were the results of MARIANNE?", "MARIANNE"),
    ("What did the PHENIX study show?", "PHENIX"),
    ("What did CLEOPATRA show?", "CLEOPATRA"),
])
def test_an_unknown_study_alone_is_named_as_not_covered(assistant: Assistant, question: str, name: str) -> None:
    answer = assistant.answer([question])
    assert name in _not_covered(answer)
    assert answer.evidence_level is None
    assert not answer.citations


@pytest.mark.parametrize(("question", "name", "drug"), [
    ("PHOEBE - did pyrotinib improve OS?", "PHOEBE", "pyrotinib"),
    ("Any survival benefit with pertuzumab in KORALINE?", "KORALINE", "pertuzumab"),
    ("NEFERT-T results for neratinib?", "NEFERT-T", "neratinib"),
    ("ZEPHYRA-2 - what OS did trastuzumab deruxtecan reach?", "ZEPHYRA-2", "trastuzumab deruxtecan"),
])
def test_an_unknown_study_with_a_drug_shows_only_the_drugs_own_studies(assistant: Assistant, question: str, name: str,
                                                                        drug: str) -> None:
    answer = assistant.answer([question])
    assert name in _not_covered(answer)
    assert "From the review:" not in answer.text  # no nearest passage on something else
    cards = []
    for citation in answer.citations:  # every study cited gave the drug asked
        card = next((c for c in assistant.index.cards if c.name == citation.trial), None)
        assert card is not None, citation
        assert drug in " ".join((*card.drugs, *card.arms)).lower()
        cards.append(card)
    # an evidence level only from the drug's own studies shown
    assert answer.evidence_level is None or answer.evidence_level in {c.esmo_level for c in cards}


def test_an_unknown_study_with_a_topic_quotes_only_that_topic(assistant: Assistant) -> None:
    answer = assistant.answer(["Did MONARCH show anything in brain metastases?"])
    assert "MONARCH" in _not_covered(answer)
    for citation in answer.citations:
        assert any(w in citation.quote.lower() for w in ("brain", "intracranial", "central nervous"))


def test_a_fact_the_review_does_not_have_names_it(assistant: Assistant) -> None:
    answer = assistant.answer(["What were the results of DESTINY-Breast09?"])
    assert answer.kind == "out_of_scope"
    assert "**Not covered by the review:** DESTINY-Breast09." in answer.text


def test_a_capitalised_word_outside_the_review_is_no_study(assistant: Assistant) -> None:
    answer = assistant.answer(["Write a shell script that converts a BAMFILE to text."])
    assert answer.kind == "out_of_scope"
    assert "does not mention" not in answer.text
