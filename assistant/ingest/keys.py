"""Passage keys: for each passage, the questions clinicians ask that it answers, in their own words.

A paraphrase may share no word with the review ("a new tissue sample after deruxtecan?") yet share
words and meaning with a key of its passage ("re-biopsy when disease progresses on Enhertu?"). The keys
are data (corpus/passage_keys.yaml), reviewed like the rules; retrieval indexes them as views of their
passage. Every passage that can answer a question must have keys, so a new passage without them fails
at load rather than being quietly harder to find.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import CorpusError
from assistant.types import PassageKey, Review

MIN_KEYS = 3


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passage: str
    keys: list[str] = Field(min_length=MIN_KEYS)


def load_passage_keys(path: Path, review: Review) -> tuple[PassageKey, ...]:
    """The keys of every passage, the title's too, in file order; a key for an unknown passage, a
    passage without keys or a repeated key stops the load, naming it."""
    if not path.is_file():
        raise CorpusError(f"The passage keys are missing: {path} is not a file.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CorpusError(f"{path.name} is not valid UTF-8 YAML: {exc}") from None
    if not isinstance(data, list):
        raise CorpusError(f"{path.name} must be a list of {{passage, keys}} entries.")
    try:
        entries = [_Entry.model_validate(item) for item in data]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CorpusError(f"{path.name}: {problems}") from None
    known = {p.id for p in review.passages}
    keys: list[PassageKey] = []
    seen: dict[str, str] = {}
    covered: set[str] = set()
    for entry in entries:
        if entry.passage not in known:
            raise CorpusError(f"{path.name}: no passage {entry.passage!r} in the review.")
        if entry.passage in covered:
            raise CorpusError(f"{path.name}: passage {entry.passage} is listed twice.")
        covered.add(entry.passage)
        for n, text in enumerate(entry.keys):
            words = " ".join(text.lower().split())
            if len(words) < 3:
                raise CorpusError(f"{path.name}: an empty key for {entry.passage}.")
            if words in seen:
                raise CorpusError(f"{path.name}: the key {text!r} is given for {seen[words]} and {entry.passage}.")
            seen[words] = entry.passage
            keys.append(PassageKey(id=f"{entry.passage}#k{n}", passage_id=entry.passage, text=text.strip()))
    missing = [p.id for p in review.passages if p.id not in covered]
    if missing:
        raise CorpusError(f"{path.name}: no keys for {', '.join(missing)}: every passage needs at least {MIN_KEYS}.")
    return tuple(keys)
