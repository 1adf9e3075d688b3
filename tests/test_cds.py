"""CDS Hooks 2.0 over real HTTP: discovery, cards with the required fields, the same advice as the chat.

Fixtures: tests/fixtures/cds/ holds the specification's patient-view example request and its R4
order-select example (the draft order changed from amoxicillin to T-DXd, the diet order dropped); the
patients are built from fhir.resources R4B models, so every resource sent is valid FHIR.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation

from assistant.conversation import Assistant
from assistant.serve.cds import Card, CardsResponse, Discovery, HookRequest, describe
from assistant.types import Answer
from tests.conftest import LiveServer

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

FIXTURES = Path(__file__).parent / "fixtures" / "cds"
LOINC = "http://loinc.org"


def _bundle(resources: list[Any]) -> dict[str, Any]:
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "searchset",
                                    "entry": [{"resource": r.model_dump(mode="json")} for r in resources]})
    dumped: dict[str, Any] = bundle.model_dump(mode="json")
    return dumped


def _observation(code: str, name: str, value: str) -> Observation:
    return Observation.model_validate({
        "resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/1288992"},
        "code": {"coding": [{"system": LOINC, "code": code}], "text": name}, "valueCodeableConcept": {"text": value}})


def _statement(drug: str, status: str, reason: str | None = None) -> MedicationStatement:
    data: dict[str, Any] = {"resourceType": "MedicationStatement", "status": status,
                            "subject": {"reference": "Patient/1288992"}, "medicationCodeableConcept": {"text": drug}}
    if reason:
        data["statusReason"] = [{"text": reason}]
    return MedicationStatement.model_validate(data)


def her2_low_patient() -> dict[str, Any]:
    """HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and chemotherapy."""
    condition = Condition.model_validate({
        "resourceType": "Condition", "subject": {"reference": "Patient/1288992"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}], "text": "active"},
        "code": {"text": "Metastatic breast cancer"}})
    return {
        "observations": _bundle([_observation("85319-2", "HER2 by immunohistochemistry", "IHC 1+"),
                                 _observation("85337-4", "Estrogen receptor", "positive")]),
        "conditions": _bundle([condition]),
        "medications": _bundle([_statement("palbociclib", "stopped", "disease progression"),
                                _statement("letrozole", "stopped", "disease progression"),
                                _statement("capecitabine", "completed", "disease progression")]),
    }


def call(server: LiveServer, body: dict[str, Any], service: str = "her2-adc-guidance") -> httpx.Response:
    return httpx.post(f"{server.url}/cds-services/{service}", json=body, timeout=60)


def test_discovery_lists_the_service_for_order_select_and_patient_view(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/cds-services")
    assert response.status_code == 200
    found = Discovery.model_validate(response.json())
    hooks = {s.hook: s for s in found.services}
    assert set(hooks) == {"order-select", "patient-view"}
    assert hooks["order-select"].id == "her2-adc-guidance"
    for service in found.services:  # the specification's required fields
        assert service.description
        assert service.id
        assert service.prefetch is not None
        assert "{{context.patientId}}" in service.prefetch["observations"]


def test_the_specifications_patient_view_example_gets_412_naming_the_prefetch_needed(live_server: LiveServer) -> None:
    body = json.loads((FIXTURES / "patient-view-spec.json").read_text())
    response = call(live_server, body, "her2-adc-guidance-patient-view")
    assert response.status_code == 412
    detail = response.json()["detail"]
    assert "observations, conditions" in detail
    assert "Observation?patient={{context.patientId}}" in detail


def test_order_select_cards_meet_the_spec_and_equal_the_assistants_answer(
        live_server: LiveServer, assistant: Assistant) -> None:
    body = json.loads((FIXTURES / "order-select-spec.json").read_text())
    body["prefetch"] = her2_low_patient()
    response = call(live_server, body)
    assert response.status_code == 200, response.text
    result = CardsResponse.model_validate(response.json())
    card = result.cards[0]
    assert len(card.summary) < 140
    assert card.indicator in {"info", "warning", "critical"}
    assert card.source.label
    assert card.source.url is not None
    assert card.links is not None
    assert card.links[0].url.startswith(live_server.url + "/?q=")
    same = assistant.answer(["HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and "
                             "one line of chemotherapy. What next?"])
    preferred = same.recommendations[0]
    assert card.summary == f"Preferred: {preferred.option} (ESMO level {preferred.evidence_level})"
    assert card.detail is not None
    assert "Order being placed: trastuzumab deruxtecan." in card.detail
    assert same.citations[0].quote[:80] in card.detail
    passage = httpx.get(card.source.url).json()  # the source link opens the quoted passage
    assert passage["text"].startswith(same.citations[0].quote[:40]) or same.citations[0].quote[:40] in passage["text"]


def test_a_patient_view_with_her2_zero_gets_a_different_recommendation(live_server: LiveServer) -> None:
    prefetch = her2_low_patient()
    prefetch["observations"] = _bundle([_observation("85319-2", "HER2 by immunohistochemistry", "IHC 0"),
                                        _observation("85337-4", "Estrogen receptor", "positive")])
    body = {"hook": "patient-view", "hookInstance": "a3a6c7a1-7b4e-4a8d-9f39-2c4f0c1e0b11",
            "context": {"userId": "Practitioner/example", "patientId": "1288992"}, "prefetch": prefetch}
    card = CardsResponse.model_validate(call(live_server, body, "her2-adc-guidance-patient-view").json()).cards[0]
    assert "sacituzumab govitecan" in card.summary


def test_bad_calls_get_clear_errors(live_server: LiveServer) -> None:
    body = {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "1"}, "prefetch": {
        "observations": {"resourceType": "Bundle", "type": "searchset",
                         "entry": [{"resource": {"resourceType": "Observation", "status": "not-a-status"}}]},
        "conditions": {"resourceType": "Bundle", "type": "searchset"}}}
    invalid = call(live_server, body)
    assert invalid.status_code == 412
    assert "not valid FHIR R4" in invalid.json()["detail"]
    assert call(live_server, body, "nope").status_code == 404
    wrong_hook = call(live_server, {**body, "hook": "order-sign"})
    assert wrong_hook.status_code == 400
    assert "order-select, patient-view" in wrong_hook.json()["detail"]


# --- safety states: the card's indicator and summary, and the same answer as the assistant ------------------

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def _condition(text: str, clinical: str = "active", verification: str = "confirmed") -> Condition:
    return Condition.model_validate({
        "resourceType": "Condition", "subject": {"reference": "Patient/1288992"}, "code": {"text": text},
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
        "verificationStatus": {"coding": [{"system": VERIFICATION, "code": verification}]}})


def _quantity(code: str, name: str, value: float, unit: str) -> Observation:
    return Observation.model_validate({
        "resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/1288992"},
        "code": {"coding": [{"system": LOINC, "code": code}], "text": name},
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}})


def _note(text: str) -> DocumentReference:
    return DocumentReference.model_validate({
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/1288992"},
        "description": text, "content": [{"attachment": {"contentType": "text/plain", "title": "Clinic letter"}}]})


def patient_view(prefetch: dict[str, Any]) -> dict[str, Any]:
    return {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": {"userId": "Practitioner/example", "patientId": "1288992"}, "prefetch": prefetch}


def her2_low_with(conditions: tuple[Condition, ...] = (), observations: tuple[Observation, ...] = (),
                  note: str | None = None) -> dict[str, Any]:
    """The HER2-low patient of her2_low_patient() with more Conditions, Observations or a clinic letter."""
    prefetch = her2_low_patient()
    prefetch["conditions"] = _bundle([_condition("Metastatic breast cancer"), *conditions])
    prefetch["observations"] = _bundle([_observation("85319-2", "HER2 by immunohistochemistry", "IHC 1+"),
                                        _observation("85337-4", "Estrogen receptor", "positive"), *observations])
    if note is not None:
        prefetch["notes"] = _bundle([_note(note)])
    return prefetch


def assert_card_is_the_answer(card: Card, answer: Answer) -> None:
    """The card says what the chat says: the same options in the same order with the same levels, the same
    warnings, the same options kept out."""
    assert card.detail is not None
    assert answer.kind == "recommendation"
    if answer.recommendations:
        first = answer.recommendations[0]
        assert card.summary.endswith(f"{first.role.capitalize()}: {first.option} (ESMO level {first.evidence_level})")
    else:
        assert card.summary.endswith("No option preferred: specialist review first")
    at = [card.detail.index(f"**{r.role.capitalize()}: {r.option}** (ESMO evidence level {r.evidence_level})")
          for r in answer.recommendations]
    assert at == sorted(at)
    for warning in answer.warnings:
        assert f"**Warning:** {warning}" in card.detail
    for out in answer.not_offered:
        assert f"- {out.option}: " in card.detail


def _card_and_answer(server: LiveServer, assistant: Assistant, prefetch: dict[str, Any]) -> tuple[Card, Answer, str]:
    body = patient_view(prefetch)
    response = call(server, body, "her2-adc-guidance-patient-view")
    assert response.status_code == 200, response.text
    card = CardsResponse.model_validate(response.json()).cards[0]
    assert card.links is not None
    sentence = parse_qs(urlsplit(card.links[0].url).query)["q"][0]  # what the card answered, as the chat gets it
    assert sentence == describe(HookRequest.model_validate(body))
    return card, assistant.answer([sentence]), sentence


SAFETY_STATES = [
    pytest.param(her2_low_with(conditions=(_condition("Interstitial lung disease on home oxygen"),)),
                 ["interstitial lung disease"], "interstitial lung disease", id="ild-condition-home-oxygen"),
    pytest.param(her2_low_with(note="Known ILD, on home oxygen 2 L/min since March; HRCT shows fibrotic change."),
                 ["interstitial lung disease"], "ild", id="ild-in-a-clinic-letter"),
    pytest.param(her2_low_with(conditions=(_condition("Pneumonitis", clinical="resolved"),)),
                 ["interstitial lung disease"], "pneumonitis (resolved)", id="resolved-pneumonitis"),
    pytest.param(her2_low_with(conditions=(_condition("Heart failure with reduced ejection fraction, NYHA class II"),),
                               observations=(_quantity("10230-1", "Left ventricular Ejection fraction", 35, "%"),)),
                 ["cardiac dysfunction", "reduced ejection fraction"], "lvef 35%", id="lvef-35-symptomatic-hf"),
    pytest.param(her2_low_with(conditions=(_condition("Pregnancy"),)), ["pregnancy or breastfeeding"], "pregnancy",
                 id="pregnancy-condition"),
    pytest.param(her2_low_with(observations=(_observation("82810-3", "Pregnancy status", "Pregnant"),)),
                 ["pregnancy or breastfeeding"], "pregnancy status: pregnant", id="pregnancy-status-observation"),
]


@pytest.mark.parametrize(("prefetch", "states", "read"), SAFETY_STATES)
def test_a_patient_in_a_safety_state_gets_a_warning_card_naming_it(
        live_server: LiveServer, assistant: Assistant, prefetch: dict[str, Any], states: list[str], read: str) -> None:
    card, answer, sentence = _card_and_answer(live_server, assistant, prefetch)
    assert read in sentence.lower()
    assert card.indicator == "warning"
    assert len(card.summary) < 140
    assert card.summary.startswith("Warning, ")
    for state in states:
        assert state in card.summary.lower()
    assert answer.warnings
    assert_card_is_the_answer(card, answer)
    # the option the state concerns is out of the preferred slot and shown as needing review
    assert not any("deruxtecan" in r.option and r.role == "preferred" for r in answer.recommendations)
    assert card.detail is not None
    assert "only after specialist review" in card.detail


@pytest.mark.parametrize(
    "prefetch",
    [pytest.param(her2_low_patient(), id="ordinary"),
     pytest.param(her2_low_with(conditions=(_condition("Interstitial lung disease", verification="refuted"),)),
                  id="refuted-ild"),
     pytest.param(her2_low_with(observations=(_quantity("10230-1", "Left ventricular Ejection fraction", 62, "%"),)),
                  id="normal-lvef"),
     pytest.param(her2_low_with(observations=(_observation("82810-3", "Pregnancy status", "Not pregnant"),)),
                  id="not-pregnant")],
)
def test_an_ordinary_patient_gets_an_info_card_with_the_assistants_answer(
        live_server: LiveServer, assistant: Assistant, prefetch: dict[str, Any]) -> None:
    card, answer, _ = _card_and_answer(live_server, assistant, prefetch)
    assert card.indicator == "info"
    assert answer.warnings == ()
    assert card.detail is not None
    assert "Warning" not in card.summary + card.detail
    assert card.summary == "Preferred: trastuzumab deruxtecan (T-DXd) (ESMO level I)"
    assert_card_is_the_answer(card, answer)
