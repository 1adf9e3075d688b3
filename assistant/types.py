"""Every data type the stages pass along, defined once.

Offsets (Span) always index the original review text (corpus/review.txt) as a Python str, so
`review_text[span.start:span.end]` shows the words a unit was read from.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EvidenceLevel = Literal["I", "II", "III", "IV", "V"]
EVIDENCE_ORDER: tuple[EvidenceLevel, ...] = ("I", "II", "III", "IV", "V")
Verification = Literal["verified", "partial", "unverified"]
PassageKind = Literal["title", "abstract", "paragraph", "perspective", "backmatter"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Span(Frozen):
    start: int = Field(ge=0)
    end: int = Field(ge=0)


# --- the review -----------------------------------------------------------------------------


class Section(Frozen):
    number: str | None  # "5.1"; None for front and back matter
    title: str
    level: int  # 1 for "5", 2 for "5.1"; from the number, not the converter's hashes
    parent: str | None
    kind: Literal["body", "backmatter"]
    heading: Span

    @property
    def label(self) -> str:
        return f"{self.number}. {self.title}" if self.number else self.title


class Passage(Frozen):
    """A unit of the review: title, abstract, paragraph or one Perspectives statement."""

    id: str  # stable: "review:5.2:p1", "review:5.2:perspective:2", "review:abstract"
    kind: PassageKind
    section: str | None  # section number
    section_title: str | None
    text: str  # cleaned: LaTeX rendered, split sentences joined, markup removed
    refs: tuple[int, ...]  # reference numbers of its citation markers, in order of first use
    spans: tuple[Span, ...]  # the pieces of the original it was read from (several if a page split it)
    statement: int | None = None  # the number of a Perspectives statement


class Perspectives(Frozen):
    """A section's closing "Perspectives" paragraph: the review's own recommendations."""

    section: str
    section_title: str
    statements: tuple[Passage, ...]


class Reference(Frozen):
    number: int
    authors: tuple[str, ...]
    et_al: bool
    title: str
    journal: str
    year: int | None
    volume: str | None
    pages: str | None
    doi: str | None
    text: str  # the whole entry, cleaned
    span: Span


class Review(Frozen):
    sha256: str
    title: str
    authors: tuple[str, ...]
    keywords: tuple[str, ...]
    sections: tuple[Section, ...]
    passages: tuple[Passage, ...]
    perspectives: tuple[Perspectives, ...]
    references: tuple[Reference, ...]

    def passage(self, passage_id: str) -> Passage:
        for passage in self.passages:
            if passage.id == passage_id:
                return passage
        raise KeyError(passage_id)

    def reference(self, number: int) -> Reference:
        return self.references[number - 1]

    def section(self, number: str) -> Section:
        for section in self.sections:
            if section.number == number:
                return section
        raise KeyError(number)


class PassageKey(Frozen):
    """A question a clinician would ask that one passage answers, in clinicians' words (corpus/passage_keys.yaml)."""

    id: str  # "review:5.2:p1#k3"
    passage_id: str
    text: str = Field(min_length=3)


class Chunk(Frozen):
    """What the index stores: part of one passage, never crossing a passage or a section."""

    id: str  # "review:5.2:p1#0"
    passage_id: str
    kind: PassageKind
    section: str | None
    section_title: str | None
    text: str  # verbatim from the passage's cleaned text
    refs: tuple[int, ...]
    spans: tuple[Span, ...]
    tokens: int  # word pieces of the embedded text (header + text)


# --- the studies ----------------------------------------------------------------------------


class StudyResult(Frozen):
    measure: str
    comparison: str
    value: str
    ci: str
    source: str


class LimitedEvidence(Frozen):
    """Part of a study's evidence that does not carry the study's own level: an exploratory subgroup, or the
    trial's result applied to patients it did not enrol (trastuzumab-era trials cited for use after T-DXd).
    An option resting on it takes this level, and its rationale says why (the convention of the team's
    trial-facts reference: exploratory subgroups of RCTs do not carry the parent trial's level)."""

    id: str  # "brain-metastases", "after-t-dxd": what a rule names after the card id
    kind: Literal["subgroup", "indirect"]
    population: str  # the patients it speaks of
    level: EvidenceLevel  # never better than the card's own level
    why: str  # one sentence, shown in the rationale of every option resting on it
    results: tuple[str, ...] = ()  # the card's result measures that belong to this subgroup

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", value):
            raise ValueError("limited-evidence ids are lower-case words joined by hyphens, e.g. brain-metastases")
        return value


class StudyCard(Frozen):
    """One study the review names, with facts checked against primary sources."""

    id: str  # file stem: "destiny-breast03"
    name: str
    refs: tuple[int, ...]  # numbers in the review's reference list; empty when uncited
    aliases: tuple[str, ...]  # other names, abbreviations, NCT numbers, the review's spellings
    drugs: tuple[str, ...]  # agents it tested; used to find it, never to name it
    design: str
    population: str
    arms: tuple[str, ...]
    n: str
    primary_endpoint: str
    results: tuple[StudyResult, ...]
    esmo_level: EvidenceLevel
    esmo_mcbs: str | None
    verification: Verification
    verification_note: str | None = None
    review_claims: tuple[str, ...]
    discrepancies: tuple[str, ...]
    sources: tuple[str, ...]
    limited_evidence: tuple[LimitedEvidence, ...] = ()  # subgroups and indirect uses, each with its own level

    @field_validator("*", mode="after")
    @classmethod
    def _no_recollections(cls, value: object) -> object:
        # The reference file marks unchecked recollections "(from memory, unverified)"; such text
        # is not a fact and must never reach a card.
        if "from memory" in repr(value).lower():
            raise ValueError("carries text marked 'from memory', which is not a verified fact")
        return value

    @model_validator(mode="after")
    def _limited_evidence_holds(self) -> StudyCard:
        ids = [entry.id for entry in self.limited_evidence]
        if len(ids) != len(set(ids)):
            raise ValueError(f"limited_evidence ids repeat: {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}")
        measures = {result.measure for result in self.results}
        for entry in self.limited_evidence:
            if EVIDENCE_ORDER.index(entry.level) < EVIDENCE_ORDER.index(self.esmo_level):
                raise ValueError(f"limited_evidence {entry.id}: level {entry.level} is better than the study's own "
                                 f"level {self.esmo_level}")
            unknown = [m for m in entry.results if m not in measures]
            if unknown:
                raise ValueError(f"limited_evidence {entry.id}: no result with measure {unknown[0]!r} "
                                 f"(measures: {'; '.join(sorted(measures))})")
        return self

    def limited(self, entry_id: str) -> LimitedEvidence:
        for entry in self.limited_evidence:
            if entry.id == entry_id:
                return entry
        known = ", ".join(e.id for e in self.limited_evidence) or "none"
        raise KeyError(f"study card {self.id!r} has no limited_evidence {entry_id!r} (known: {known})")

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# --- retrieval ------------------------------------------------------------------------------


class Comparison(Frozen):
    """The drugs a question compares and the studies that gave them all: none means the corpus holds no
    head-to-head trial, which the answer must say rather than let separate results read as one."""

    drugs: tuple[str, ...]
    trials: tuple[StudyCard, ...] = ()


class Scores(Frozen):
    fused: float
    dense: float | None  # cosine similarity, when the dense retriever ranked it
    lexical: float | None  # BM25, when the lexical retriever ranked it
    dense_rank: int | None
    lexical_rank: int | None
    study_rank: int | None  # rank among passages naming a study the query names
    case_rank: int | None = None  # rank among the passages the rules fitting the described patient rest on
    sentence_rank: int | None = None  # rank by the passage's sentence closest in meaning to the query
    key_rank: int | None = None  # best rank by the passage's keys (clinicians' questions it answers), dense or BM25


class ScoredPassage(Frozen):
    """A search result: the chunk's text and where it stands, with the scores that ranked it."""

    chunk_id: str
    passage_id: str
    kind: PassageKind
    section: str | None
    section_title: str | None
    text: str
    refs: tuple[int, ...]
    spans: tuple[Span, ...]
    score: float
    scores: Scores


# --- the patient ----------------------------------------------------------------------------

Her2Status = Literal["positive", "low", "ultralow", "zero", "negative"]  # "negative": low or 0, not said
HrStatus = Literal["positive", "negative"]
Setting = Literal["early", "neoadjuvant", "adjuvant", "metastatic"]
BrainMets = Literal["none", "active", "stable", "present"]
Therapy = Literal[
    "trastuzumab", "pertuzumab", "taxane", "chemotherapy", "capecitabine", "anthracycline",
    "trastuzumab emtansine", "trastuzumab deruxtecan", "sacituzumab govitecan", "adc",
    "tyrosine kinase inhibitor", "tucatinib", "pyrotinib", "neratinib", "lapatinib",
    "cdk4/6 inhibitor", "endocrine therapy", "immunotherapy", "parp inhibitor",
    "eribulin", "datopotamab deruxtecan", "margetuximab", "elacestrant", "pi3k inhibitor", "akt inhibitor",
    "hdac inhibitor", "anti-angiogenic therapy",
]
# Classes a specific mention implies ("paclitaxel" is also chemotherapy): the rules test them, the record
# shows the drug named.
IMPLIED_CLASSES: frozenset[str] = frozenset({"chemotherapy", "adc", "tyrosine kinase inhibitor", "endocrine therapy"})
# Therapies that are classes of drugs: a member asked about ("gemcitabine", read as chemotherapy) is not the class.
DRUG_CLASSES: frozenset[str] = IMPLIED_CLASSES | {"cdk4/6 inhibitor", "immunotherapy", "parp inhibitor", "pi3k inhibitor",
                                                  "akt inhibitor", "hdac inhibitor", "anti-angiogenic therapy", "taxane",
                                                  "anthracycline"}
Biomarker = Literal["PIK3CA", "AKT1", "PTEN", "ESR1", "BRCA", "PD-L1"]
Topic = Literal["monitoring", "delay_resistance", "rebiopsy", "sequencing", "dosing", "toxicity"]


class Fact(Frozen):
    """One fact about the patient and the words it was read from."""

    value: str | int | bool
    words: str  # the user's words, verbatim (escape before showing)
    turn: int  # 1-based message number


Exposure = Literal["declined", "contraindicated", "unavailable", "stopped_toxicity", "completed", "considered",
                   "never_received", "progressed", "current", "received"]
# Exposures that say nothing about what she has had: a drug asked about, declined or ruled out.
UNINFORMATIVE: frozenset[str] = frozenset({"considered", "declined", "contraindicated", "unavailable"})


class TherapyFact(Frozen):
    therapy: Therapy
    received: bool  # False: the message says it was not given ("no prior T-DXd")
    progressed: bool  # disease progressed on or after it
    current: bool  # the patient is on it now
    words: str  # the user's words, verbatim
    turn: int
    status: Exposure = "received"  # one exposure status per mention, from its scope
    sentence: str = ""  # the sentence it was read from, verbatim
    implied: bool = False  # a class the named drug belongs to ("chemotherapy" for "docetaxel"), not a mention


class BiomarkerFact(Frozen):
    marker: Biomarker
    positive: bool
    words: str
    turn: int
    status: Literal["positive", "negative", "not_tested"] = "positive"


class PatientFacts(Frozen):
    """What the conversation holds about the patient; None means never said."""

    her2: Fact | None = None
    hr: Fact | None = None
    setting: Fact | None = None
    pcr: Fact | None = None
    line: Fact | None = None
    de_novo: Fact | None = None
    brain_mets: Fact | None = None
    oligoprogression: Fact | None = None
    ild: Fact | None = None
    ild_grade: Fact | None = None
    oxygen: Fact | None = None
    access_limited: Fact | None = None
    treatment_naive: Fact | None = None
    cdk_months: Fact | None = None  # months on a CDK4/6 inhibitor before progression
    endocrine_lines: Fact | None = None
    pregnancy: Fact | None = None
    lvef: Fact | None = None
    heart_failure: Fact | None = None
    ecog: Fact | None = None
    hepatic_impairment: Fact | None = None
    renal_impairment: Fact | None = None
    dpd_deficiency: Fact | None = None
    sex: Fact | None = None
    primary_site: Fact | None = None
    toxicities: tuple[Fact, ...] = ()  # a prior severe toxicity: value is the therapy
    uncovered: tuple[Fact, ...] = ()  # drugs, trials or guidelines named that the review does not cover
    therapies: tuple[TherapyFact, ...] = ()
    biomarkers: tuple[BiomarkerFact, ...] = ()
    topics: tuple[Fact, ...] = ()

    def value(self, name: str) -> str | int | bool | None:
        fact = getattr(self, name)
        return fact.value if isinstance(fact, Fact) else None

    @property
    def prior(self) -> frozenset[str] | None:
        """Therapies received (including the current one); None if treatment was never mentioned."""
        if not any(t.status not in UNINFORMATIVE for t in self.therapies):
            return frozenset() if self.treatment_naive and self.treatment_naive.value else None
        return frozenset(t.therapy for t in self.therapies if t.received)

    @property
    def progressed_on(self) -> frozenset[str] | None:
        prior = self.prior
        if prior is None:
            return None
        return frozenset(t.therapy for t in self.therapies if t.received and t.progressed)

    @property
    def failed(self) -> frozenset[str] | None:
        """Therapies the patient has moved on from: progressed, or received and no longer current."""
        prior = self.prior
        if prior is None:
            return None
        return frozenset(t.therapy for t in self.therapies if t.received and (t.progressed or not t.current))

    @property
    def current(self) -> frozenset[str]:
        return frozenset(t.therapy for t in self.therapies if t.received and t.current)

    def biomarker(self, marker: str) -> bool | None:
        found = [b.positive for b in self.biomarkers if b.marker == marker and b.status != "not_tested"]
        return found[-1] if found else None


# --- the answer (the public contract: add fields, never rename or drop) ---------------------

Kind = Literal["recommendation", "fact", "explanation", "clarification", "out_of_scope", "error"]
Role = Literal["preferred", "alternative", "consider"]


class Citation(Frozen):
    id: str  # unique within the answer: "1", "2", ...
    ref: int | None  # number in the review's reference list; None for the review itself
    trial: str | None
    title: str
    section: str | None  # where in the review the supporting passage stands
    quote: str  # verbatim from the indexed text
    passage_id: str | None = None  # added: the review passage quoted
    spans: tuple[Span, ...] = ()  # added: where the quote stands in corpus/review.txt


class Recommendation(Frozen):
    option: str
    role: Role
    rationale: str
    evidence_level: EvidenceLevel
    citations: tuple[str, ...]
    studies: tuple[str, ...] = ()  # added: the study cards behind the evidence level
    note: str | None = None  # added: caveat, e.g. where the review differs from the primary source


class Change(Frozen):
    """A fact whose other value would change the preferred option (added field)."""

    fact: str
    now: str
    alternative: str
    preferred: str | None  # the preferred option under the alternative; None: no recommendation
    condition: str = ""  # in words: "if HER2 were 0 rather than low"


class NotOffered(Frozen):
    """An option the review gives that this patient's facts rule out (added field)."""

    option: str
    reason: str
    words: str  # the clinician's words it rests on, verbatim (escape before showing)
    review: bool = False  # True: only after specialist review; False: not offered


class Answer(Frozen):
    kind: Kind
    text: str
    recommendations: tuple[Recommendation, ...] = ()
    citations: tuple[Citation, ...] = ()
    evidence_level: EvidenceLevel | None = None
    patient: dict[str, object] = Field(default_factory=dict)
    follow_up: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    corpus_version: str
    what_would_change: tuple[Change, ...] = ()  # added
    safety_note: str | None = None  # added: also in text
    not_offered: tuple[NotOffered, ...] = ()  # added: options ruled out for this patient, with the words why
    warnings: tuple[str, ...] = ()  # added: safety states, each with what the review says of such patients
