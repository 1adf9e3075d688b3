"""The fact registry (corpus/facts.yaml): each fact type described once, validated at load.

The rules' facets, their defaults, the what-if alternatives, the record labels and the follow-up
questions are read from here, so a new fact type is a data change plus tests. A fact type that lacks
a part, or whose patterns give values outside its type, fails at load naming the fact.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from assistant.errors import CorpusError
from assistant.types import Exposure, Frozen

# medspaCy's own categories, and the project's (corpus/context_rules.json)
CONTEXT_CATEGORIES = frozenset({
    "NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "FAMILY",
    "CONSIDERED", "DECLINED", "UNAVAILABLE", "CONTRAINDICATED", "STOPPED", "STOPPED_TOXICITY", "COMPLETED",
    "PROGRESSED", "CURRENT", "NOT_TESTED", "EARLY_SETTING",
})
_STRUCTURAL = frozenset({"TERMINATE", "PSEUDO"})
BiomarkerStatus = Literal["positive", "negative", "not_tested"]


class TokenPattern(Frozen):
    # "$number": the number in the match; "$karnofsky": a Karnofsky score as ECOG; "$under:60": true when the
    # number is below 60 ("eGFR 25" is renal impairment, "eGFR 85" is not)
    value: str | int | bool
    pattern: tuple[dict[str, Any], ...]


class FactType(Frozen):
    name: str
    type: Literal["enum", "int", "bool"]
    values: tuple[str, ...] = ()
    label: str
    value_labels: dict[str, str] = Field(default_factory=dict)
    follow_up: str
    unknown: str | int | bool | None  # "ask": a rule waits for it; anything else: what a rule sees
    alternatives: tuple[str | bool, ...] = ()
    scope: dict[str, str | bool]  # ConText category -> value, "drop" or "keep"
    read_by: Literal["grammar", "patterns"]
    patterns: tuple[TokenPattern, ...] = ()
    sentence_cues: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # value -> words that, in the mention's sentence, give it
    combine: dict[str, str | bool] = Field(default_factory=dict)  # "active+none" -> "resolved": values of several mentions read as one
    # a mention counts only beside one of these (fact names or finding groups) in its sentence: "grade 2" is an
    # ILD grade in "grade 2 pneumonitis", not in "grade 2 neuropathy"
    anchor: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> FactType:
        if self.type == "enum" and not self.values:
            raise ValueError("an enum fact lists its values")
        for category in self.scope:
            if category not in CONTEXT_CATEGORIES:
                raise ValueError(f"scope names an unknown ConText category {category!r}")
        allowed = {*self.values, "drop", "keep"} if self.type == "enum" else {"drop", "keep", True, False}
        for category, outcome in self.scope.items():
            if outcome not in allowed:
                raise ValueError(f"scope {category}: {outcome!r} is not a value of {self.name}")
        if self.read_by == "patterns" and not self.patterns:
            raise ValueError("read_by: patterns, but no patterns are given")
        for spec in self.patterns:
            if isinstance(spec.value, str) and spec.value.startswith("$under:"):
                if self.type != "bool" or not spec.value.removeprefix("$under:").isdigit():
                    raise ValueError(f"pattern value {spec.value!r} needs a bool fact and a whole number")
            elif isinstance(spec.value, str) and spec.value.startswith("$"):
                if self.type != "int" or spec.value not in {"$number", "$karnofsky"}:
                    raise ValueError(f"pattern value {spec.value!r} needs an int fact")
            elif not self.accepts(spec.value):
                raise ValueError(f"pattern value {spec.value!r} is not a value of {self.name}")
        for value in self.alternatives:
            if not self.accepts(value):
                raise ValueError(f"alternative {value!r} is not a value of {self.name}")
        for value in (*self.sentence_cues, *self.combine.values()):
            if not self.accepts(value):
                raise ValueError(f"{value!r} in sentence_cues or combine is not a value of {self.name}")
        if self.unknown not in {"ask", None} and not self.accepts(self.unknown):
            raise ValueError(f"unknown: {self.unknown!r} is neither 'ask' nor a value of {self.name}")
        return self

    def accepts(self, value: object) -> bool:
        if self.type == "enum":
            return value in self.values
        if self.type == "bool":
            return isinstance(value, bool)
        return isinstance(value, int) and not isinstance(value, bool)


class ExposureRule(Frozen):
    status: Exposure
    label: str
    received: bool
    categories: tuple[str, ...]
    # categories that set the status only when no other cue does: "neoadjuvant TCHP" was completed unless
    # "started", "cycle 4 now" or "planned" says otherwise
    fallback: tuple[str, ...] = ()


class Registry(Frozen):
    facts: tuple[FactType, ...]
    exposures: tuple[ExposureRule, ...]
    biomarker_scope: dict[str, str]
    toxicity_cues: tuple[str, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Registry:
        names = [f.name for f in self.facts]
        repeated = {n for n in names if names.count(n) > 1}
        if repeated:
            raise ValueError(f"fact types named twice: {', '.join(sorted(repeated))}")
        statuses = [e.status for e in self.exposures]
        missing = set(Exposure.__args__) - set(statuses)  # type: ignore[attr-defined]
        if missing or len(statuses) != len(set(statuses)):
            raise ValueError(f"exposures must list every status once (missing: {', '.join(sorted(missing))})")
        for rule in self.exposures:
            unknown = (set(rule.categories) | set(rule.fallback)) - CONTEXT_CATEGORIES
            if unknown:
                raise ValueError(f"exposure {rule.status} names unknown categories {sorted(unknown)}")
        return self

    def fact(self, name: str) -> FactType:
        for fact in self.facts:
            if fact.name == name:
                return fact
        raise KeyError(name)

    @cached_property
    def received_statuses(self) -> frozenset[str]:
        return frozenset(e.status for e in self.exposures if e.received)

    def exposure_label(self, status: str) -> str:
        return next(e.label for e in self.exposures if e.status == status)

    @property
    def follow_ups(self) -> dict[str, str]:
        return {f.name: f.follow_up for f in self.facts}


def load_registry(corpus_dir: Path) -> Registry:
    """The registry, checked against the ConText rules file it relies on."""
    path = corpus_dir / "facts.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        registry = Registry.model_validate(data)
    except FileNotFoundError:
        raise CorpusError(f"The fact registry is missing: {path}") from None
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path.name} is not valid YAML: {exc}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = error["loc"]
        name = ""
        if len(where) > 1 and where[0] == "facts" and isinstance(where[1], int):
            name = f" (fact {data['facts'][where[1]].get('name', where[1])})"
        raise CorpusError(f"{path.name}{name}: {'.'.join(map(str, where))}: {error['msg']}") from None
    rules, _ = load_context_rules(corpus_dir)
    used = {str(r["category"]) for r in rules}
    for category in used - CONTEXT_CATEGORIES - _STRUCTURAL:
        raise CorpusError(f"context_rules.json uses a category the registry does not know: {category}")
    return registry


def load_context_rules(corpus_dir: Path) -> tuple[list[dict[str, Any]], frozenset[str]]:
    """The project's ConText rules, and the literals of medspaCy's default rules they replace."""
    path = corpus_dir / "context_rules.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rules = data["context_rules"]
        replaced = frozenset(str(x) for x in data.get("replaces_default", ()))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CorpusError(f"{path.name} is not a valid medspaCy ConText rules file: {exc}") from None
    if not isinstance(rules, list) or not all(isinstance(r, dict) and "category" in r for r in rules):
        raise CorpusError(f"{path.name}: context_rules must be a list of rules with a category")
    return rules, replaced
