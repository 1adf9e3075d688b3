"""Every data type the stages pass along, defined once.

Offsets (Span) always index the original review text (corpus/review.txt) as a Python str, so
`review_text[span.start:span.end]` shows the words a unit was read from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

    @field_validator("*", mode="after")
    @classmethod
    def _no_recollections(cls, value: object) -> object:
        # The reference file marks unchecked recollections "(from memory, unverified)"; such text
        # is not a fact and must never reach a card.
        if "from memory" in repr(value).lower():
            raise ValueError("carries text marked 'from memory', which is not a verified fact")
        return value

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# --- retrieval ------------------------------------------------------------------------------


class Scores(Frozen):
    fused: float
    dense: float | None  # cosine similarity, when the dense retriever ranked it
    lexical: float | None  # BM25, when the lexical retriever ranked it
    dense_rank: int | None
    lexical_rank: int | None
    study_rank: int | None  # rank among passages naming a study the query names


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
