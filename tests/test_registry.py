"""The fact registry (corpus/facts.yaml): complete, consistent with the types and rules, refused when broken."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant import decide
from assistant.errors import CorpusError
from assistant.registry import load_registry
from assistant.types import Fact, PatientFacts
from tests.conftest import CORPUS


def test_every_fact_type_is_a_patient_fact_and_a_rule_facet() -> None:
    registry = load_registry(CORPUS)
    names = {fact.name for fact in registry.facts}
    scalar_fields = {name for name, field in PatientFacts.model_fields.items() if field.annotation == Fact | None}
    assert names == scalar_fields
    assert names == set(decide._SCALARS)


def test_every_fact_type_has_its_label_question_and_unknown_meaning() -> None:
    for fact in load_registry(CORPUS).facts:
        assert fact.label, fact.name
        assert fact.follow_up.endswith("?"), fact.name
        assert fact.read_by in {"grammar", "patterns"}


def _break(corpus_copy: Path, name: str, change: dict[str, object], drop: str | None = None) -> None:
    path = corpus_copy / "facts.yaml"
    data = yaml.safe_load(path.read_text())
    entry = next(f for f in data["facts"] if f["name"] == name)
    entry.update(change)
    if drop:
        del entry[drop]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.parametrize(
    ("name", "change", "drop", "message"),
    [("lvef", {}, "follow_up", "lvef"),
     ("pregnancy", {"patterns": [{"value": "twins", "pattern": [{"LOWER": "twins"}]}]}, None, "twins"),
     ("ild", {"scope": {"NEGATED": "none"}}, None, "NEGATED"),
     ("ecog", {"patterns": [{"value": "$colour", "pattern": [{"LOWER": "ecog"}]}]}, None, "$colour"),
     ("brain_mets", {"alternatives": ["maybe"]}, None, "maybe"),
     ("heart_failure", {"read_by": "patterns", "patterns": []}, None, "no patterns"),
     ("lvef", {"patterns": [{"value": "$under:50", "pattern": [{"LOWER": "lvef"}]}]}, None, "$under:50")],
)
def test_an_incomplete_or_wrong_fact_type_fails_at_load_naming_it(
        corpus_copy: Path, name: str, change: dict[str, object], drop: str | None, message: str) -> None:
    _break(corpus_copy, name, change, drop)
    with pytest.raises(CorpusError) as error:
        load_registry(corpus_copy)
    assert name in str(error.value) or message in str(error.value)
    assert message in str(error.value) or "Field required" in str(error.value)


def test_a_context_rule_of_an_unknown_category_fails_at_load(corpus_copy: Path) -> None:
    path = corpus_copy / "context_rules.json"
    path.write_text(path.read_text().replace('"category": "DECLINED"', '"category": "REFUSED"', 1))
    with pytest.raises(CorpusError, match="REFUSED"):
        load_registry(corpus_copy)
