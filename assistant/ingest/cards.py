"""Study cards: one validated YAML file per study the review names (corpus/studies/*.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from assistant.errors import CorpusError
from assistant.types import StudyCard, StudyResult


def load_cards(studies_dir: Path, n_references: int) -> tuple[StudyCard, ...]:
    """Every card, sorted by id; a card that breaks the schema stops the load, naming its file."""
    if not studies_dir.is_dir():
        raise CorpusError(f"The study cards are missing: {studies_dir} is not a folder.")
    cards = []
    for path in sorted(studies_dir.glob("*.yaml")):
        cards.append(_load_card(path))
    if not cards:
        raise CorpusError(f"No study cards in {studies_dir}.")
    _check_cards(cards, n_references)
    return tuple(cards)


def _load_card(path: Path) -> StudyCard:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CorpusError(f"Study card {path.name} is not UTF-8 text.") from None
    except yaml.YAMLError as exc:
        raise CorpusError(f"Study card {path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"Study card {path.name} must be a mapping of fields.")
    try:
        return StudyCard.model_validate({"id": path.stem, **data})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise CorpusError(f"Study card {path.name} breaks the schema: {problems}") from None


def _check_cards(cards: list[StudyCard], n_references: int) -> None:
    seen: dict[str, str] = {}
    for card in cards:
        for result in card.results:
            problem = interval_problem(result)
            if problem:
                raise CorpusError(f"Study card {card.id}.yaml, result {result.measure!r}: {problem}")
        for ref in card.refs:
            if not 1 <= ref <= n_references:
                raise CorpusError(
                    f"Study card {card.id}.yaml cites reference [{ref}], which is not in the review's "
                    f"list (1-{n_references})."
                )
        for name in card.names:
            key = name_key(name)
            if key in seen and seen[key] != card.id:
                raise CorpusError(
                    f"Study cards {seen[key]}.yaml and {card.id}.yaml share the name {name!r}; "
                    "a name must lead to one study."
                )
            seen[key] = card.id


def name_key(name: str) -> str:
    """Case-, space- and punctuation-blind form of a name: 'DESTINY-Breast 04' -> 'destinybreast04'."""
    return "".join(re.findall(r"[a-z0-9]+", name.lower()))


# A `ci` that is not an interval: the answer prints the figure alone.
NO_INTERVAL = frozenset({"n/a", "unverified", "not retrieved", "not reported in abstract", "truncated in source",
                         "as shown", ""})
_HAZARD = re.compile(r"\bHR\s+(?:approx\s+)?\d")
_INTERVAL = re.compile(r"\d+(?:\.\d+)?\s*[-\u2013]\s*(?:\d+(?:\.\d+)?|NR|NE|NA|NC)\b")


def _top_level_clauses(value: str) -> list[str]:
    """The value split at semicolons outside brackets: '73.3% (2 CR; 3 SD)' is one clause."""
    clauses, depth, start = [], 0, 0
    for i, char in enumerate(value):
        depth += char == "("
        depth -= char == ")"
        if char == ";" and depth == 0:
            clauses.append(value[start:i])
            start = i + 1
    return [c for c in (*clauses, value[start:]) if c.strip()]


def interval_problem(result: StudyResult) -> str | None:
    """Why a result's interval could be printed beside the wrong figure, or None.

    One figure per entry with its own interval: where an entry also gives medians, its `ci` belongs to its one
    hazard ratio (the reference's convention); several hazard ratios need as many intervals, an "A vs B" pair
    one interval per arm, and figures without a hazard ratio one entry each (DESTINY-Breast12's 12-month and
    median PFS once shared an interval, and answers printed it beside the wrong one).
    """
    ci = result.ci.strip().lower()
    if ci in NO_INTERVAL or ci.startswith("unverified"):
        return None
    hazards = len(_HAZARD.findall(result.value))
    if hazards >= 2 and len(_INTERVAL.findall(result.ci)) != hazards:
        # printed after the whole value, the interval would sit beside the last figure, not its hazard ratio
        return f"{hazards} hazard ratios share the interval {result.ci!r}: give each its own entry or interval"
    if hazards == 0:
        clauses = _top_level_clauses(result.value)
        if len(clauses) > 1:
            return (f"the value joins {len(clauses)} figures ({'; '.join(c.strip() for c in clauses)}) under one "
                    f"interval {result.ci!r}: one figure per entry")
        if " vs " in result.value and " vs " not in result.ci:
            return f"the value compares two arms but the interval {result.ci!r} is one: give one interval per arm"
    return None
