"""The clinicians' vocabulary (corpus/vocabulary.yaml): groups of words that mean one thing.

Matching ignores case and punctuation between word parts ("T-DXd" = "t dxd" = "TDXd"), except for
short all-capital abbreviations ("SG", "ET", "OS"), which must appear in capitals so that ordinary
words ("so", "et al.") do not match them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError
from rapidfuzz.distance import OSA

from assistant.errors import CorpusError
from assistant.types import Frozen

GroupKind = Literal["drug", "class", "finding", "setting", "outcome", "concept", "intent"]


class TermGroup(Frozen):
    name: str
    kind: GroupKind
    terms: tuple[str, ...]


class TermMatch(Frozen):
    group: str
    term: str
    start: int
    end: int


class Vocabulary(Frozen):
    groups: tuple[TermGroup, ...]

    def group(self, name: str) -> TermGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(name)

    @cached_property
    def _matcher(self) -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
        entries = [(term, group.name) for group in self.groups for term in group.terms]
        entries.sort(key=lambda entry: -len(entry[0]))
        alternatives, names = [], {}
        for number, (term, group) in enumerate(entries):
            alternatives.append(f"(?P<t{number}>{term_pattern(term)})")
            names[f"t{number}"] = (group, term)
        pattern = r"(?<![A-Za-z0-9])(?:" + "|".join(alternatives) + r")(?![A-Za-z0-9])"
        return re.compile(pattern, re.IGNORECASE), names

    @cached_property
    def _find_cached(self) -> Callable[[str], tuple[TermMatch, ...]]:
        regex, names = self._matcher

        @functools.lru_cache(maxsize=256)
        def run(text: str) -> tuple[TermMatch, ...]:
            return tuple(TermMatch(group=names[m.lastgroup or ""][0], term=names[m.lastgroup or ""][1],
                                   start=m.start(), end=m.end()) for m in regex.finditer(text))

        return run

    def find(self, text: str) -> list[TermMatch]:
        """Non-overlapping matches, longest term first at each position.

        One alternation of every term costs about 1 ms a question, and a question is read by
        understanding, expansion, normalisation and intent alike: the last texts' matches are kept.
        """
        return list(self._find_cached(text))


def term_pattern(term: str) -> str:
    """A regex for a term: its word parts in order, any of ' -/.' (or nothing) between them."""
    parts = re.findall(r"[A-Za-z0-9]+\+?", term)
    if not parts:
        raise CorpusError(f"corpus/vocabulary.yaml: the term {term!r} has no letters or digits")
    body = r"[\s\-/.'\u2019]*".join(re.escape(part) for part in parts)  # "what's" as typed, straight or curly
    if len(term) <= 3 and term.replace("+", "").isalpha() and term.replace("+", "").isupper():
        return f"(?-i:{body})"
    return body


def load_vocabulary(path: Path) -> Vocabulary:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Vocabulary.model_validate(data)
    except FileNotFoundError:
        raise CorpusError(f"The vocabulary file {path} is missing.") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path.name} is not valid YAML text: {exc}") from None
    except ValidationError as exc:
        raise CorpusError(f"{path.name} breaks its schema: {exc.errors()[0]['msg']} "
                          f"at {exc.errors()[0]['loc']}") from None


class Speller:
    """Corrects a misspelt word to the one known word within one edit, if exactly one is.

    Known words are the review's and the vocabulary's; words of the embedding model's own
    vocabulary (ordinary English: "ignore", "lives") are valid and left alone. Lookup uses the delete-neighbourhood of
    each word (SymSpell's idea), so a correction costs a few dictionary lookups, not a scan.
    """

    def __init__(self, words: set[str], also_valid: set[str] = frozenset(), min_length: int = 5) -> None:  # type: ignore[assignment]
        self.known = {w for w in words if w}
        self.valid = self.known | set(also_valid)  # words left alone, never corrected to
        self.min_length = min_length
        self._deletes: dict[str, set[str]] = {}
        for word in self.known:
            if len(word) >= min_length - 1:
                for variant in _deletions(word):
                    self._deletes.setdefault(variant, set()).add(word)

    def correct(self, word: str) -> str:
        lower = word.lower()
        if len(lower) < self.min_length or lower in self.valid or not lower.isalpha():
            return word
        candidates: set[str] = set(self._deletes.get(lower, set()))
        for variant in _deletions(lower):
            if variant in self.known:
                candidates.add(variant)
            candidates |= self._deletes.get(variant, set())
        candidates = {c for c in candidates if _edit_distance(lower, c) <= 1}
        return candidates.pop() if len(candidates) == 1 else word

    def correct_text(self, text: str) -> str:
        return self.correct_aligned(text)[0]

    def correct_aligned(self, text: str) -> tuple[str, Alignment]:
        """The corrected text, and where each corrected word stands in the original."""
        pieces: list[str] = []
        edits: list[tuple[int, int, int, int]] = []
        last = 0
        for match in re.finditer(r"[A-Za-z]+", text):
            fixed = self.correct(match.group(0))
            pieces.append(text[last:match.start()])
            if fixed != match.group(0):
                start = sum(len(p) for p in pieces)
                edits.append((start, start + len(fixed), match.start(), match.end()))
            pieces.append(fixed)
            last = match.end()
        pieces.append(text[last:])
        return "".join(pieces), Alignment(original=text, edits=tuple(edits))


class Alignment(Frozen):
    """Maps offsets in a spell-corrected text back to the text the user wrote."""

    original: str
    edits: tuple[tuple[int, int, int, int], ...]  # (corrected start, end, original start, end)

    def position(self, offset: int, *, end: bool = False) -> int:
        delta = 0
        for c_start, c_end, o_start, o_end in self.edits:
            if offset < c_start or (end and offset == c_start):
                break
            if offset < c_end or (end and offset == c_end):
                return o_end if end else o_start
            delta = o_end - c_end
        return offset + delta

    def verbatim(self, corrected: str, words: str) -> str:
        """The user's own words for a phrase of the corrected text (the phrase itself if not found)."""
        if not self.edits or not words:
            return words
        at = corrected.find(words)
        if at < 0:
            return words
        return self.original[self.position(at):self.position(at + len(words), end=True)]


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (adjacent transpositions count as one edit), by rapidfuzz."""
    return int(OSA.distance(a, b))
