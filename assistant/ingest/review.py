"""The review, from its converted text to sections, passages, Perspectives and references.

The converter's heading levels are unreliable, so a section's level comes from its number. Page
footnotes are dropped and the sentences they split are joined; every unit keeps the spans of the
original it was read from.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assistant.errors import CorpusError
from assistant.ingest.mapped import MappedText, clean
from assistant.ingest.references import citation_refs, parse_reference
from assistant.types import Passage, Perspectives, Reference, Review, Section, Span

_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+(.+)$")
_FRONT = {"review article": "front", "article info": "front", "keywords:": "keywords", "abstract": "abstract"}
_FOOTNOTE = re.compile(r"^(?:\\\*|\*)\s*Corresponding author|^E-mail address:", re.IGNORECASE)
_PERSPECTIVES = re.compile(r"^\*\*Perspectives:\*\*")
_TERMINAL = re.compile(r"[.!?:;)\]]$")


def load_review(path: Path, provenance_path: Path | None = None) -> Review:
    """Parse the review; refuse a missing, non-UTF-8 or altered file with a message that says why."""
    original = read_review_text(path, provenance_path)
    return parse_review(original)


def read_review_text(path: Path, provenance_path: Path | None = None) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(
            f"The review is missing: {path} does not exist. Restore it with `git checkout -- {path.name}` "
            "in the corpus folder, or point ASSISTANT_CORPUS_DIR at a corpus."
        ) from None
    except OSError as exc:
        raise CorpusError(f"The review cannot be read: {path}: {exc.strerror}.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"The review {path} is not UTF-8 text (undecodable byte at offset {exc.start}). "
            "Restore the original file (git checkout) or convert it to UTF-8."
        ) from None
    if provenance_path is not None:
        expected = _expected_sha256(provenance_path)
        actual = hashlib.sha256(data).hexdigest()
        if expected != actual:
            raise CorpusError(
                f"The review {path} does not match the sha256 recorded in {provenance_path.name} "
                f"(expected {expected[:12]}…, found {actual[:12]}…). Restore the original file, or if "
                "you replaced the review on purpose, record its new hash and provenance there."
            )
    return text


def _expected_sha256(provenance_path: Path) -> str:
    try:
        record = yaml.safe_load(provenance_path.read_text(encoding="utf-8"))
        return str(record["sha256"])
    except FileNotFoundError:
        raise CorpusError(f"The corpus has no provenance file: {provenance_path} is missing.") from None
    except (yaml.YAMLError, KeyError, TypeError, UnicodeDecodeError):
        raise CorpusError(f"{provenance_path} is not a valid provenance file (needs a 'sha256' field).") from None


@dataclass
class _SectionState:
    section: Section
    blocks: list[list[tuple[int, int]]] = field(default_factory=list)  # paragraphs as block pieces


def parse_review(original: str) -> Review:
    title = ""
    authors: tuple[str, ...] = ()
    keywords: list[str] = []
    abstract_blocks: list[tuple[int, int]] = []
    sections: list[_SectionState] = []
    references: list[Reference] = []
    title_span: Span | None = None
    state = "front"
    numbered_parents: dict[str, str] = {}

    for start, end in _blocks(original):
        raw = original[start:end]
        if raw.startswith("#"):
            hashes = len(raw) - len(raw.lstrip("#"))
            heading = raw[hashes:].strip()
            heading_start = start + raw.index(heading)
            numbered = _NUMBERED.match(heading)
            if numbered:
                number, name = numbered.group(1), numbered.group(2).strip()
                parent = number.rsplit(".", 1)[0] if "." in number else None
                numbered_parents[number] = parent or ""
                sections.append(_SectionState(Section(
                    number=number, title=name, level=number.count(".") + 1, parent=parent,
                    kind="body", heading=Span(start=heading_start, end=heading_start + len(heading)),
                )))
                state = "body"
            elif hashes == 1 and not title:
                title = clean(MappedText.of(original, heading_start, heading_start + len(heading))).text
                title_span = Span(start=heading_start, end=heading_start + len(heading))
                state = "authors"
            elif heading.lower() in _FRONT and not sections:
                state = _FRONT[heading.lower()]
            else:
                kind = "references" if heading.lower() == "references" else "backmatter"
                sections.append(_SectionState(Section(
                    number=None, title=heading, level=1, parent=None, kind="backmatter",
                    heading=Span(start=heading_start, end=heading_start + len(heading)),
                )))
                state = kind
            continue
        if _FOOTNOTE.match(raw):
            continue  # a page footnote; the paragraph it interrupts is joined below
        if state == "authors":
            authors = tuple(re.findall(r"([A-Z][a-z]+ [A-Z][a-z]+)\s*<sup>", raw))
        elif state == "keywords":
            keywords = [line.strip() for line in raw.splitlines() if line.strip()]
        elif state == "abstract":
            abstract_blocks.append((start, end))
        elif state == "references":
            offset = start
            for line in raw.splitlines(keepends=True):
                if line.strip():
                    references.append(parse_reference(line.rstrip("\n"), offset, original))
                offset += len(line)
        elif state in {"body", "backmatter"}:
            _add_block(sections[-1], start, end, original)

    if not title or title_span is None:
        raise CorpusError("corpus/review.txt: no title heading ('# ...') found")
    if not sections or not references:
        raise CorpusError("corpus/review.txt: no numbered sections or no reference list found")
    _check_reference_numbers(references)

    passages: list[Passage] = [
        Passage(id="review:title", kind="title", section=None, section_title=None, text=title,
                refs=(), spans=(title_span,)),
    ]
    if abstract_blocks:
        passages.append(_passage("review:abstract", "abstract", None, "Abstract",
                                 [abstract_blocks], original, references)[0])
    perspectives: list[Perspectives] = []
    for state_ in sections:
        section = state_.section
        if section.kind == "backmatter":
            if section.title.lower() == "references":
                continue
            slug = re.sub(r"[^a-z0-9]+", "-", section.title.lower()).strip("-")
            for i, pieces in enumerate(state_.blocks, start=1):
                passages.extend(_passage(f"review:{slug}:p{i}", "backmatter", None, section.title,
                                         [pieces], original, references))
            continue
        paragraph_number = 0
        for pieces in state_.blocks:
            if _PERSPECTIVES.match(original[pieces[0][0]:pieces[0][1]]):
                statements = _perspective_statements(section, pieces, original, references)
                perspectives.append(Perspectives(section=section.number or "", section_title=section.title,
                                                 statements=statements))
                passages.extend(statements)
                continue
            paragraph_number += 1
            passages.extend(_passage(f"review:{section.number}:p{paragraph_number}", "paragraph",
                                     section.number, section.title, [pieces], original, references))

    return Review(
        sha256=hashlib.sha256(original.encode("utf-8")).hexdigest(),
        title=title,
        authors=authors,
        keywords=tuple(keywords),
        sections=tuple(s.section for s in sections),
        passages=tuple(passages),
        perspectives=tuple(perspectives),
        references=tuple(references),
    )


def _blocks(original: str) -> list[tuple[int, int]]:
    """Maximal runs of non-blank lines, as [start, end) offsets without the final newline."""
    blocks, start, offset = [], None, 0
    for line in original.splitlines(keepends=True):
        if line.strip():
            if start is None:
                start = offset
            end = offset + len(line.rstrip("\r\n"))
        elif start is not None:
            blocks.append((start, end))
            start = None
        offset += len(line)
    if start is not None:
        blocks.append((start, end))
    return blocks


def _add_block(state: _SectionState, start: int, end: int, original: str) -> None:
    """Append a block, or join it to the previous one when a page break split a sentence."""
    text = original[start:end].strip()
    if state.blocks:
        previous_piece = state.blocks[-1][-1]
        previous = original[previous_piece[0]:previous_piece[1]].rstrip()
        if not _TERMINAL.search(previous) and text[:1].islower():
            state.blocks[-1].append((start, end))
            return
    state.blocks.append([(start, end)])


def _mapped(pieces: list[tuple[int, int]], original: str) -> MappedText:
    return clean(MappedText.join(MappedText.of(original, a, b) for a, b in pieces))


def _passage(
    passage_id: str, kind: str, section: str | None, section_title: str | None,
    paragraphs: list[list[tuple[int, int]]], original: str, references: list[Reference],
) -> list[Passage]:
    mapped = _mapped([piece for pieces in paragraphs for piece in pieces], original)
    return [Passage(
        id=passage_id, kind=kind, section=section, section_title=section_title,
        text=mapped.text, refs=citation_refs(mapped.text, len(references)),
        spans=mapped.spans(original=original),
    )]


def _perspective_statements(
    section: Section, pieces: list[tuple[int, int]], original: str, references: list[Reference],
) -> tuple[Passage, ...]:
    mapped = _mapped(pieces, original)
    body_start = len("Perspectives:")
    markers: list[tuple[int, int]] = []  # (marker start, text start)
    cursor = body_start
    number = 1
    while True:
        found = re.compile(rf"(?:^|(?<=[;.:]))\s*({number})\.\s+").search(mapped.text, cursor)
        if not found:
            break
        markers.append((found.start(1), found.end()))
        cursor = found.end()
        number += 1
    if not markers:
        bounds = [(body_start, len(mapped.text))]
    else:
        bounds = [(text_start, markers[i + 1][0] if i + 1 < len(markers) else len(mapped.text))
                  for i, (_, text_start) in enumerate(markers)]
    statements = []
    for i, (a, b) in enumerate(bounds, start=1):
        piece = mapped.slice(a, b).strip()
        piece = piece.slice(0, len(piece) - 1).strip() if piece.text.endswith(";") else piece
        statements.append(Passage(
            id=f"review:{section.number}:perspective:{i}", kind="perspective", section=section.number,
            section_title=section.title, text=piece.text, refs=citation_refs(piece.text, len(references)),
            spans=piece.spans(original=original), statement=i,
        ))
    return tuple(statements)


def _check_reference_numbers(references: list[Reference]) -> None:
    numbers = [r.number for r in references]
    if numbers != list(range(1, len(numbers) + 1)):
        raise CorpusError("corpus/review.txt: the reference list is not numbered 1..n without gaps")
