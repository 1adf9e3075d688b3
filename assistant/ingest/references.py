"""The review's reference list, parsed into typed entries.

Entries are Vancouver style: authors, title, *journal* volume (issue) (year) pages. The list has
slips (garbled authors in [34], 'Al Et' in [47], a surname-first list in [51]); the parser keeps
whatever it cannot read as an author in the title rather than guessing.
"""

from __future__ import annotations

import re

from assistant.errors import CorpusError
from assistant.ingest.mapped import MappedText, clean, clean_text
from assistant.types import Reference, Span

_ENTRY = re.compile(r"^- \[(\d+)\]\s+(.*)$")
_LETTER = r"[^\W\d_]"
_INITIALS = r"(?:[A-Z]\.\s?-?)+"
_PARTICLE = r"(?:(?:de|del|della|der|den|van|von|da|di|la|le)\s)*"
_SURNAME = rf"(?:de|van|von|di|da|le|la)?[A-Z]{_LETTER}*(?:['’\-\s]{_PARTICLE}?[A-Z]?{_LETTER}+)*"
_AUTHOR_INITIALS_FIRST = re.compile(rf"^{_INITIALS}\s*{_PARTICLE}{_SURNAME}$")
_AUTHOR_SURNAME_FIRST = re.compile(rf"^{_SURNAME}\s+{_INITIALS}(?:\s?[A-Z][a-z]+)?$")
_ET_AL = re.compile(r"^(?:et al\.?|al et)$", re.IGNORECASE)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s,;]+[^\s,;.])")
_YEAR = re.compile(r"\((\d{4})\)")
_MARKER = re.compile(r"\[(\d+(?:\s*[,–-]\s*\d+)*)\]")


def parse_reference(line: str, start: int, original: str) -> Reference:
    """One '- [n] ...' line of the list, with its span in the original."""
    match = _ENTRY.match(line)
    if not match:
        raise CorpusError(f"corpus/review.txt: not a reference entry at offset {start}")
    number = int(match.group(1))
    body_start = start + match.start(2)
    raw = match.group(2)
    journal_match = re.search(r"\*([^*]+)\*", raw)
    if not journal_match:
        raise CorpusError(f"corpus/review.txt: reference [{number}] has no italic journal name")
    head = raw[: journal_match.start()].strip().rstrip(",").strip()
    journal = journal_match.group(1).strip()
    tail = raw[journal_match.end() :].strip()
    # Conference abstracts put the year inside the italics: "*SABCS (2023). PS08-01.*"
    inner_year = _YEAR.search(journal)
    if inner_year:
        tail = journal[inner_year.start() :] + " " + tail
        journal = journal[: inner_year.start()].strip()
    authors, et_al, title = _split_authors(head)
    authors = tuple(clean_text(a) for a in authors)
    year_match = _YEAR.search(tail)
    volume = pages = None
    if year_match:
        # Keep the trailing "37 (25)" of "J. Clin. Oncol. : official journal of ... 37 (25)".
        issue = re.search(r"(\d+\s*(?:\([^)]*\))?)\s*$", tail[: year_match.start()])
        volume = issue.group(1).strip() if issue else None
        pages = tail[year_match.end() :].strip(" ,.") or None
    doi = _DOI.search(raw)
    text = clean(MappedText.of(original, body_start, body_start + len(raw))).text
    return Reference(
        number=number,
        authors=authors,
        et_al=et_al,
        title=clean_text(title).rstrip(","),
        journal=re.sub(r"\s*:\s*official journal.*$", "", clean_text(journal)).rstrip(","),
        year=int(year_match.group(1)) if year_match else None,
        volume=volume,
        pages=pages,
        doi=doi.group(1) if doi else None,
        text=text,
        span=Span(start=start, end=start + len(line)),
    )


def _split_authors(head: str) -> tuple[tuple[str, ...], bool, str]:
    """Consume author names from the front of 'authors, title'; the rest is the title."""
    parts = head.split(", ")
    authors: list[str] = []
    et_al = False
    index = 0
    for index, part in enumerate(parts):  # noqa: B007 - index is used after the loop
        token = part.strip()
        if _ET_AL.match(token):
            et_al = True
            continue
        if _AUTHOR_INITIALS_FIRST.match(token) or _AUTHOR_SURNAME_FIRST.match(token):
            authors.append(token)
            continue
        break
    else:
        index = len(parts)
    return tuple(authors), et_al, ", ".join(parts[index:])


def citation_refs(text: str, n_references: int) -> tuple[int, ...]:
    """Reference numbers of the markers '[7]', '[25,26]', '[34-36]', in order of first use."""
    numbers: list[int] = []
    for marker in _MARKER.finditer(text):
        for part in re.split(r"\s*,\s*", marker.group(1)):
            bounds = [int(x) for x in re.split(r"\s*[–-]\s*", part)]
            expanded = range(bounds[0], bounds[-1] + 1)
            for number in expanded:
                if not 1 <= number <= n_references:
                    raise CorpusError(
                        f"corpus/review.txt: citation marker [{marker.group(1)}] points outside the "
                        f"reference list (1-{n_references})"
                    )
                if number not in numbers:
                    numbers.append(number)
    return tuple(numbers)
