"""Study cards: every card loads against the schema and carries only verified facts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from assistant.errors import CorpusError
from assistant.ingest import Corpus, load_cards, name_key

# How the review names the studies it discusses (its own spellings), and the card each must reach.
NAMED_IN_REVIEW = {
    "KRISTINE": "kristine", "KATHERINE": "katherine", "DESTINY-Breast03": "destiny-breast03",
    "DESTINY-breast 04": "destiny-breast04", "ASCENT": "ascent", "TROPICs-02": "tropics-02",
    "KATE2": "kate2", "DESTINY-Breast 07": "destiny-breast07", "Destiny Breast-02": "destiny-breast02",
    "HER2CLIMB": "her2climb", "NALA": "nala", "SOPHIA": "sophia", "DAISY": "daisy",
    "DESTINY-breast 06": "destiny-breast06", "BYLIEVE": "bylieve", "CAPItello 291": "capitello-291",
    "MANTAIN": "maintain", "EMERALD": "emerald", "OlympiAD": "olympiad", "BEGONIA": "begonia",
    "DEBBRAH": "debbrah", "TUXEDO-1": "tuxedo-1", "DESTINY-Breast 12": "destiny-breast12",
    "PERMATE": "permeate", "CURB": "curb", "DESTINY-Breast 01": "destiny-breast01",
}


def test_every_card_loads_and_cites_only_the_reviews_references(corpus) -> None:  # type: ignore[no-untyped-def]
    assert len(corpus.cards) == 35
    for card in corpus.cards:
        assert all(1 <= ref <= 57 for ref in card.refs)
        assert card.esmo_level in {"I", "II", "III", "IV", "V"}
        assert card.results, card.id


@pytest.mark.parametrize(("review_name", "card_id"), sorted(NAMED_IN_REVIEW.items()))
def test_each_study_the_review_names_has_a_card_reachable_by_that_name(
    corpus: Corpus, review_name: str, card_id: str
) -> None:
    assert review_name in corpus.original
    by_name = {name_key(name): card.id for card in corpus.cards for name in card.names}
    assert by_name[name_key(review_name)] == card_id


def test_no_card_carries_a_recollection(corpus) -> None:  # type: ignore[no-untyped-def]
    for path in sorted((Path(__file__).parents[1] / "corpus" / "studies").glob("*.yaml")):
        body = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
        assert "from memory" not in body.lower(), path.name
    katherine = next(c for c in corpus.cards if c.id == "katherine")
    discontinuation = next(r for r in katherine.results if "discontinuation" in r.measure)
    assert discontinuation.value == "unverified"  # the 18.0% is a recollection, not a fact


def test_primary_figures_and_discrepancies_are_on_the_cards(corpus) -> None:  # type: ignore[no-untyped-def]
    cards = {c.id: c for c in corpus.cards}
    db03 = cards["destiny-breast03"]
    assert any(r.ci == "0.22-0.37" and "HR 0.28" in r.value for r in db03.results)
    assert any("0.37" in d for d in db03.discrepancies)
    ascent = cards["ascent"]
    assert any("HR 0.41" in r.value and r.ci == "0.32-0.52" for r in ascent.results)
    assert cards["destiny-breast02"].discrepancies[0].startswith("Misattribution")
    assert cards["curb"].esmo_level == "II"
    assert cards["her2climb"].refs == (27, 50)


def test_a_card_breaking_the_schema_names_its_file(corpus_copy: Path) -> None:
    path = corpus_copy / "studies" / "nala.yaml"
    data = yaml.safe_load(path.read_text())
    data["esmo_level"] = "VI"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CorpusError, match=r"nala\.yaml breaks the schema: esmo_level"):
        load_cards(corpus_copy / "studies", 57)


def test_a_card_citing_a_reference_outside_the_list_is_refused(corpus_copy: Path) -> None:
    path = corpus_copy / "studies" / "nala.yaml"
    path.write_text(re.sub(r"refs:\n- 29", "refs:\n- 99", path.read_text()))
    with pytest.raises(CorpusError, match=r"nala\.yaml cites reference \[99\]"):
        load_cards(corpus_copy / "studies", 57)


def test_a_recollection_in_a_card_is_refused(corpus_copy: Path) -> None:
    path = corpus_copy / "studies" / "nala.yaml"
    path.write_text(path.read_text().replace("value: HR 0.76, P=.0059", "value: HR 0.76 (from memory, unverified)"))
    with pytest.raises(CorpusError, match="from memory"):
        load_cards(corpus_copy / "studies", 57)


def test_two_cards_sharing_a_name_are_refused(corpus_copy: Path) -> None:
    path = corpus_copy / "studies" / "nala.yaml"
    path.write_text(path.read_text().replace("- NCT01808573\n", "- NCT01808573\n- DB 04\n"))
    with pytest.raises(CorpusError, match="share the name"):
        load_cards(corpus_copy / "studies", 57)
