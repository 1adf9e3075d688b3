"""A CDS Hooks 2.0 service: the assistant's recommendation as cards inside an EHR.

No maintained Python CDS Hooks library exists, so the request, discovery and card formats are pydantic
models written from the 2.0 specification. The patient comes from the request's prefetch (FHIR R4-style
resources, parsed with fhir.resources' R4B module); it is turned into the words a clinician would type
and answered by the same `Assistant.answer` as the chat, so an EHR and the chat give the same advice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.compose import md
from assistant.types import Answer

SERVICE_ID = "her2-adc-guidance"
HOOKS = ("order-select", "patient-view")

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&category=laboratory",
    "conditions": "Condition?patient={{context.patientId}}",
    "medications": "MedicationStatement?patient={{context.patientId}}",
    "requests": "MedicationRequest?patient={{context.patientId}}",
    "notes": "DocumentReference?patient={{context.patientId}}",
}
REQUIRED_PREFETCH = ("observations", "conditions")

# LOINC codes of the receptor results read (others are matched by their text).
_HER2_CODES = {"48676-1", "85319-2", "85318-4", "72382-5", "49683-6", "31150-6", "32996-1"}
_ER_CODES = {"16112-5", "85337-4", "40556-3"}
_PR_CODES = {"16113-3", "85339-0", "40557-1"}
# Observations behind the safety states of corpus/constraints.yaml: a reduced LVEF, poor performance status,
# pregnancy. Dropping them would give a HER2-directed option as preferred without the warning.
_LVEF_CODES = {"10230-1", "8806-2"}
_ECOG_CODES = {"89247-1"}
_PREGNANCY_CODES = {"82810-3"}


# --- the specification's formats ---------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Service(_Model):
    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Model):
    services: list[Service]


class Coding(_Model):
    code: str
    system: str | None = None
    display: str | None = None


class Source(_Model):
    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Link(_Model):
    label: str = Field(min_length=1)
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class Card(_Model):
    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=139)  # "<140 characters"
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    links: list[Link] | None = None
    # suggestions (and selectionBehavior, required with them) are not offered: the service advises only


class CardsResponse(_Model):
    cards: list[Card]


class HookRequest(BaseModel):
    """A CDS Hooks 2.0 call; unknown members are kept (the spec lets clients add extensions)."""

    model_config = ConfigDict(extra="allow")

    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


def discovery() -> Discovery:
    description = ("Treatment options for HER2-expressing breast cancer around antibody-drug conjugates, from one "
                   "review and the studies it cites, with ESMO evidence levels and the verbatim passages.")
    return Discovery(services=[
        Service(hook=hook, id=SERVICE_ID if hook == "order-select" else f"{SERVICE_ID}-{hook}",
                title="HER2 ADC guideline assistant", description=description, prefetch=PREFETCH,
                usageRequirements="Prefetch HER2/ER/PR Observations and the breast-cancer Conditions; "
                                  "MedicationStatements/Requests for prior therapy; optional notes.")
        for hook in HOOKS])


# --- the patient from FHIR ------------------------------------------------------------------------


class MissingPrefetch(Exception):
    """The request lacks prefetch the service needs; str() says which and how to fetch it."""


def _concept_text(concept: CodeableConcept | None) -> str:
    if concept is None:
        return ""
    if concept.text:
        return str(concept.text)
    return next((str(c.display) for c in concept.coding or [] if c.display), "")


def _status(concept: CodeableConcept | None) -> str:
    """A Condition's clinical or verification status code ("active", "resolved", "refuted"), lower-case."""
    if concept is None:
        return ""
    return next((str(c.code).lower() for c in concept.coding or [] if c.code), _concept_text(concept).lower())


def _codes(concept: CodeableConcept | None) -> set[str]:
    return {str(c.code) for c in (concept.coding or []) if c.code} if concept is not None else set()


def _resources(value: Any, key: str) -> list[Any]:
    """The resources of a prefetched Bundle (or a single resource), parsed as FHIR R4B."""
    if value is None:
        return []
    try:
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            bundle = Bundle.model_validate(value)
            return [entry.resource for entry in bundle.entry or [] if entry.resource is not None]
        kind = value.get("resourceType") if isinstance(value, dict) else None
        parsers: dict[str, Any] = {"Observation": Observation, "Condition": Condition, "MedicationStatement": MedicationStatement,
                  "MedicationRequest": MedicationRequest, "DocumentReference": DocumentReference}
        parser = parsers.get(str(kind))
        return [parser.model_validate(value)] if parser is not None else []
    except ValidationError as exc:
        raise MissingPrefetch(f"prefetch '{key}' is not valid FHIR R4: {exc.errors()[0].get('msg')}") from None


def _observation_value(obs: Observation) -> str:
    if obs.valueCodeableConcept is not None:
        return _concept_text(obs.valueCodeableConcept)
    if obs.valueString:
        return str(obs.valueString)
    if obs.valueInteger is not None:
        return str(obs.valueInteger)
    if obs.valueQuantity is not None and obs.valueQuantity.value is not None:
        unit = obs.valueQuantity.unit or ""
        return f"{obs.valueQuantity.value:g}{'%' if unit in {'%', 'percent'} else ' ' + unit if unit else ''}"
    if obs.interpretation:
        return _concept_text(obs.interpretation[0])
    return ""


def _notes(resources: Iterable[Any]) -> list[str]:
    out = []
    for resource in resources:
        for note in getattr(resource, "note", None) or []:
            if note.text:
                out.append(str(note.text))
    return out


def describe(request: HookRequest) -> str:
    """The patient in a clinician's words, from the prefetch; raises MissingPrefetch naming what is needed."""
    prefetch = request.prefetch or {}
    missing = [key for key in REQUIRED_PREFETCH if key not in prefetch]
    if missing:
        wanted = "; ".join(f"'{key}': {PREFETCH[key]}" for key in missing)
        raise MissingPrefetch(f"The request lacks prefetch {', '.join(missing)}. Send it as prefetch {wanted} "
                              "(FHIR R4 Bundles); see GET /cds-services for every template.")
    observations = [r for r in _resources(prefetch.get("observations"), "observations") if isinstance(r, Observation)]
    conditions = [r for r in _resources(prefetch.get("conditions"), "conditions") if isinstance(r, Condition)]
    statements = [r for r in _resources(prefetch.get("medications"), "medications")
                  if isinstance(r, MedicationStatement | MedicationRequest)]
    statements += [r for r in _resources(prefetch.get("requests"), "requests")
                   if isinstance(r, MedicationStatement | MedicationRequest)]
    documents = [r for r in _resources(prefetch.get("notes"), "notes") if isinstance(r, DocumentReference)]

    parts: list[str] = []
    for condition in conditions:
        if _status(condition.verificationStatus) in {"refuted", "entered-in-error"}:
            continue
        text = _concept_text(condition.code)
        status = _status(condition.clinicalStatus)
        if not text:
            continue
        # A resolved condition still matters: resolved ILD keeps T-DXd behind specialist review.
        parts.append(f"history of {text} ({status})" if status in {"resolved", "inactive", "remission"} else text)
    markers: list[str] = []
    states: list[str] = []
    for obs in observations:
        if obs.status in {"entered-in-error", "cancelled"}:
            continue
        codes, name = _codes(obs.code), _concept_text(obs.code)
        value = _observation_value(obs)
        if not value:
            continue
        if codes & _HER2_CODES or re.search(r"\b(HER2|ERBB2)\b", name, re.I):
            method = " ISH" if re.search(r"\b(ISH|FISH|in situ)\b", name, re.I) else ""
            markers.append(f"HER2{method} {value}")
        elif codes & _ER_CODES or re.search(r"\bestrogen|oestrogen|\bER\b", name, re.I):
            markers.append(f"ER {value}")
        elif codes & _PR_CODES or re.search(r"\bprogesterone|\bPR\b", name, re.I):
            markers.append(f"PR {value}")
        elif codes & _LVEF_CODES or re.search(r"ejection fraction|\bLVEF\b", name, re.I):
            states.append(f"LVEF {value}")
        elif codes & _ECOG_CODES or re.search(r"\bECOG\b", name, re.I):
            states.append(f"ECOG performance status {value}")
        elif codes & _PREGNANCY_CODES or re.search(r"\bpregnan", name, re.I):
            states.append(f"Pregnancy status: {value}")
    if markers:
        parts.append(", ".join(markers))
    parts += states
    therapies = []
    for med in statements:
        status = str(med.status or "")
        drug = _concept_text(getattr(med, "medicationCodeableConcept", None))
        if not drug or status in {"entered-in-error", "draft", "not-taken", "cancelled"}:
            continue
        reason = " ".join(_concept_text(r) for r in (getattr(med, "statusReason", None) or []))
        text = " ".join([reason, *_notes([med])]).lower()
        progressed = bool(re.search(r"progress", text))
        current = status in {"active", "intended"} and not progressed
        therapies.append(f"{'currently on' if current else 'progressed on' if progressed else 'received'} {drug}")
    if therapies:
        parts.append("; ".join(therapies))
    parts += _notes(conditions) + _notes(observations)
    parts += [str(d.description) for d in documents if d.description]
    if not parts:
        raise MissingPrefetch("The prefetch holds no HER2, ER/PR, condition or therapy the service can read. "
                              f"Send {', '.join(REQUIRED_PREFETCH)} as FHIR R4 Bundles (see GET /cds-services).")
    return ". ".join(p.rstrip(". ") for p in parts) + ". What is the next treatment?"


def draft_orders(request: HookRequest) -> list[str]:
    """The drugs of the order-select hook's selected draft orders."""
    orders = request.context.get("draftOrders")
    selected = set(request.context.get("selections") or [])
    out = []
    for resource in _resources(orders, "draftOrders"):
        if isinstance(resource, MedicationRequest) and (not selected or f"MedicationRequest/{resource.id}" in selected):
            drug = _concept_text(resource.medicationCodeableConcept)
            if drug:
                out.append(drug)
    return out


# --- the cards ------------------------------------------------------------------------------------


def state_name(warning: str) -> str:
    """The safety state a warning is about, as its first words name it ("Reduced ejection fraction")."""
    return re.split(r' \(|: ', warning, maxsplit=1)[0].strip()


def _summary(answer: Answer) -> str:
    """Under 140 characters: the safety states first (all of them, or the first and how many more), then the
    option in the first slot with its role and level, or that none is preferred."""
    recs = answer.recommendations
    if recs:
        first = recs[0]
        advice = f"{first.role.capitalize()}: {first.option} (ESMO level {first.evidence_level})"
    else:
        advice = "No option preferred: specialist review first"
    states = [state_name(w) for w in answer.warnings]
    if not states:
        return _fit(advice)
    for named in ("; ".join(states).lower(), f"{states[0].lower()} (+{len(states) - 1} more)", "safety state"):
        summary = f"Warning, {named}. {advice}"
        if len(summary) <= 139:
            return summary
    return _fit(summary)


def _fit(summary: str) -> str:
    """The specification's limit: a summary under 140 characters."""
    return summary if len(summary) <= 139 else summary[:136].rstrip() + "..."


def cards(answer: Answer, question: str, base_url: str, orders: Sequence[str]) -> CardsResponse:
    """One card: the safety states, the options in order with their levels and quotes, what is not offered,
    a source and a chat link. Indicator "warning" when the answer has a safety state, else "info"."""
    base = base_url.rstrip("/")
    chat = Link(label="Open the full conversation in the chat", url=f"{base}/?q={quote(question)}", type="absolute")
    indicator: Literal["info", "warning"] = "warning" if answer.warnings else "info"
    first = answer.citations[0] if answer.citations else None
    source = Source(label=f"Ma & Li review of HER2-targeting ADCs (corpus {answer.corpus_version})",
                    url=f"{base}/api/passage/{quote(first.passage_id)}" if first and first.passage_id else f"{base}/")
    if answer.kind != "recommendation":
        summary = "More information needed for HER2 ADC guidance" if answer.kind == "clarification" else \
            "HER2 ADC guidance: no recommendation for this patient"
        if answer.warnings:
            summary = _fit(f"Warning, {state_name(answer.warnings[0]).lower()}. {summary}")
        return CardsResponse(cards=[Card(summary=summary, detail=answer.text, indicator=indicator, source=source,
                                         links=[chat])])
    lines = [f"**Warning:** {warning}\n" for warning in answer.warnings]
    if orders:
        lines.append(f"Order being placed: {', '.join(orders)}.\n")
    if not answer.recommendations:
        lines.append("No option is preferred for this patient: every option the review gives here is ruled out "
                     "or needs specialist review first.\n")
    by_id = {c.id: c for c in answer.citations}
    for rec in answer.recommendations:
        lines.append(f"- **{rec.role.capitalize()}: {rec.option}** (ESMO evidence level {rec.evidence_level}): "
                     f"{rec.rationale}")
        for cid in rec.citations[:1]:
            citation = by_id.get(cid)
            if citation is not None:
                trial = f"{citation.trial}, " if citation.trial else ""
                lines.append(f"  > {citation.quote}\n  > ({trial}review section {citation.section or '-'})")
    if answer.not_offered:
        lines.append("\n**Not offered for this patient:**")
        for out in answer.not_offered:
            when = "only after specialist review" if out.review else "not offered"
            lines.append(f"- {out.option}: {when}, {out.reason} (from: \"{md(out.words)}\")")
    if answer.safety_note:
        lines.append(f"\n_{answer.safety_note}_")
    return CardsResponse(cards=[Card(summary=_summary(answer), detail="\n".join(lines), indicator=indicator,
                                     source=source, links=[chat])])


# --- the routes -------------------------------------------------------------------------------------

router = APIRouter(tags=["cds-hooks"])


@router.get("/cds-services", response_model=Discovery, response_model_exclude_none=True)
async def cds_discovery() -> Discovery:
    """CDS Hooks discovery: the service for order-select and its twin for patient-view."""
    return discovery()


@router.post("/cds-services/{service_id}", response_model=CardsResponse, response_model_exclude_none=True,
             responses={404: {"description": "No such service."}, 412: {"description": "Prefetch missing."},
                        503: {"description": "Busy or starting."}})
async def cds_call(service_id: str, body: HookRequest, request: Request) -> Any:
    """Cards for the patient in the prefetch (412 names the prefetch it lacks)."""
    if service_id not in {s.id for s in discovery().services}:
        return JSONResponse({"detail": f"No CDS service '{service_id}'; GET /cds-services lists them."}, status_code=404)
    if body.hook not in HOOKS:
        return JSONResponse({"detail": f"This service answers the hooks {', '.join(HOOKS)}, not '{body.hook}'."},
                            status_code=400)
    try:
        question = describe(body)
        orders = draft_orders(body)
    except MissingPrefetch as exc:
        return JSONResponse({"detail": str(exc)}, status_code=412)
    assistant = getattr(request.app.state, "assistant", None)
    limiter = request.app.state.api_limiter
    if assistant is None or not limiter.slots.acquire(blocking=False):
        return JSONResponse({"detail": request.app.state.texts["busy"]}, status_code=503)
    try:
        answer: Answer = await anyio.to_thread.run_sync(assistant.answer, [question], limiter=limiter.running())
    finally:
        limiter.slots.release()
    return cards(answer, question, str(request.base_url), orders)
