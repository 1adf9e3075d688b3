"""The clinicians' vocabulary: synonyms, abbreviations, brand names."""

from __future__ import annotations

import pytest

from assistant.vocabulary import load_vocabulary
from tests.conftest import CORPUS


@pytest.fixture(scope="module")
def vocabulary():  # type: ignore[no-untyped-def]
    return load_vocabulary(CORPUS / "vocabulary.yaml")


@pytest.mark.parametrize(
    ("text", "group"),
    [("on Enhertu", "trastuzumab deruxtecan"), ("T-DXd", "trastuzumab deruxtecan"), ("tdxd", "trastuzumab deruxtecan"),
     ("Kadcyla", "trastuzumab emtansine"), ("SG", "sacituzumab govitecan"), ("palbo", "CDK4/6 inhibitor"),
     ("brain mets", "brain metastases"), ("TNBC", "triple negative breast cancer"), ("IHC 1+", "HER2-low"),
     ("PARPi", "PARP inhibitor"), ("re-bx worthwhile?", "re-biopsy"), ("now LMD", "brain metastases")],
)
def test_terms_reach_their_group(vocabulary, text: str, group: str) -> None:  # type: ignore[no-untyped-def]
    assert [m.group for m in vocabulary.find(text)] == [group]


def test_short_capital_abbreviations_need_capitals(vocabulary) -> None:  # type: ignore[no-untyped-def]
    assert vocabulary.find("so it goes, et al.") == []
    assert [m.group for m in vocabulary.find("SG after ET")] == ["sacituzumab govitecan", "endocrine therapy"]


def test_longest_term_wins(vocabulary) -> None:  # type: ignore[no-untyped-def]
    matches = vocabulary.find("trastuzumab deruxtecan")
    assert len(matches) == 1
    assert matches[0].group == "trastuzumab deruxtecan"
