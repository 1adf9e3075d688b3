"""Study cards: one validated YAML file per study the review names (corpus/studies/*.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from assistant.errors import CorpusError
from assistant.types import StudyCard


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
