"""Eval files: answer cases (the contract's format) and retrieval labels, told apart by their keys.

Every key of a case is checked at load: an unknown one is named with its line, so a typo such as
`prefered` fails loudly instead of silently expecting nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from assistant.errors import CorpusError
from assistant.types import Answer, Frozen

Aliases = dict[str, tuple[str, ...]]


class Expect(Frozen):
    kind: str | None = None
    preferred: str | None = None
    options_all: tuple[str, ...] = ()
    options_any: tuple[str, ...] = ()
    options_none: tuple[str, ...] = ()
    preferred_none: tuple[str, ...] = ()
    refs_all: tuple[int, ...] = ()
    refs_any: tuple[int, ...] = ()
    evidence_level: str | None = None
    text_all: tuple[str, ...] = ()
    text_any: tuple[str, ...] = ()
    text_none: tuple[str, ...] = ()


class EvalCase(Frozen):
    id: str
    turns: tuple[str, ...] = Field(min_length=1)
    expect: Expect


class LabelledQuestion(Frozen):
    """A retrieval-labelled question (evals/retrieval*.jsonl): the passages that answer it."""

    id: str
    question: str
    passages: tuple[str, ...] = Field(min_length=1)
    evidence: tuple[str, ...] = ()
    kind: str = "unspecified"
    also: tuple[str, ...] = ()


FileKind = Literal["cases", "retrieval", "other"]


@dataclass(frozen=True)
class EvalFile:
    path: Path
    kind: FileKind
    split: str  # "holdout" for files under a holdout/ folder, else "dev"
    cases: tuple[EvalCase, ...] = ()
    questions: tuple[LabelledQuestion, ...] = ()
    note: str = ""

    @property
    def name(self) -> str:
        return f"holdout/{self.path.name}" if self.split == "holdout" else self.path.name


def _describe(exc: ValidationError, model: type[Frozen]) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        parent = Expect if error["loc"][0] == "expect" and len(error["loc"]) > 1 else model
        known = ", ".join(parent.model_fields)
        return f"unknown key {where!r} (known keys: {known})"
    return f"{where or 'the line'}: {error['msg']}"


def _parse_lines(path: Path) -> list[tuple[int, dict[str, object]]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"The eval file {path} cannot be read: {exc}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path.name} line {number} is not JSON: {exc.msg}") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path.name} line {number} is not a JSON object")
        records.append((number, record))
    return records


def load_cases(path: Path) -> list[EvalCase]:
    """The answer cases of one file; a bad line raises CorpusError naming line, case and key."""
    cases = []
    for number, record in _parse_lines(path):
        try:
            cases.append(EvalCase.model_validate(record))
        except ValidationError as exc:
            case = f" (case {record['id']})" if isinstance(record.get("id"), str) else ""
            raise CorpusError(f"{path.name} line {number}{case}: {_describe(exc, EvalCase)}") from None
    ids = [case.id for case in cases]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise CorpusError(f"{path.name} repeats case ids: {', '.join(repeated)}")
    return cases


def load_eval_file(path: Path) -> EvalFile:
    """An eval file of either format; files of neither (e.g. a second annotator's labels) are kept
    with a note so the report can say what it skipped."""
    split = "holdout" if path.parent.name == "holdout" else "dev"
    records = _parse_lines(path)
    first = records[0][1] if records else {}
    if "question" in first and "passages" in first:
        questions = []
        for number, record in records:
            try:
                questions.append(LabelledQuestion.model_validate(record))
            except ValidationError as exc:
                raise CorpusError(f"{path.name} line {number}: {_describe(exc, LabelledQuestion)}") from None
        return EvalFile(path, "retrieval", split, questions=tuple(questions))
    if records and not ("turns" in first or "expect" in first):
        return EvalFile(path, "other", split, note=f"not an eval case file (keys: {', '.join(sorted(first))})")
    return EvalFile(path, "cases", split, cases=tuple(load_cases(path)))


def load_aliases(path: Path) -> Aliases:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"The aliases file {path} cannot be read: {exc}") from None
    return {str(name): tuple(str(s).lower() for s in strings) for name, strings in data.items()}


def check_alias_groups(cases: list[EvalCase] | tuple[EvalCase, ...], aliases: Aliases, source: str) -> None:
    """Every alias group a case names exists: checked before any answer is computed."""
    for case in cases:
        e = case.expect
        groups = [*([e.preferred] if e.preferred else []), *e.options_all, *e.options_any, *e.options_none,
                  *e.preferred_none]
        unknown = [g for g in groups if g not in aliases]
        if unknown:
            raise CorpusError(f"{source} case {case.id}: alias group {unknown[0]!r} is not in the aliases file")


def alias_matcher(aliases: Aliases) -> Callable[[str, str], bool]:
    def matches(group: str, text: str) -> bool:
        if group not in aliases:
            raise CorpusError(f"Alias group {group!r} is not in the aliases file")
        return any(s in text.lower() for s in aliases[group])

    return matches


def failed_expectations(expect: Expect, answer: Answer, aliases: Aliases) -> list[str]:
    """What the answer misses, in words; empty when it passes."""
    matches = alias_matcher(aliases)
    options = [r.option for r in answer.recommendations]
    refs = {c.ref for c in answer.citations if c.ref is not None}
    text = answer.text.lower()
    failures = []
    if expect.kind and answer.kind != expect.kind:
        failures.append(f"kind is {answer.kind}, expected {expect.kind}")
    if expect.preferred and not (options and matches(expect.preferred, options[0])):
        failures.append(f"preferred is {options[0] if options else None!r}, expected {expect.preferred}")
    for group in expect.preferred_none:
        if options and matches(group, options[0]):
            failures.append(f"preferred is {options[0]!r}, which matches {group}")
    for group in expect.options_all:
        if not any(matches(group, o) for o in options):
            failures.append(f"no option matches {group}")
    if expect.options_any and not any(matches(g, o) for g in expect.options_any for o in options):
        failures.append(f"no option matches any of {list(expect.options_any)}")
    for group in expect.options_none:
        if any(matches(group, o) for o in options):
            failures.append(f"an option matches {group}")
    missing = [r for r in expect.refs_all if r not in refs]
    if missing:
        failures.append(f"refs {missing} not cited (cited {sorted(refs)})")
    if expect.refs_any and not set(expect.refs_any) & refs:
        failures.append(f"none of refs {list(expect.refs_any)} cited (cited {sorted(refs)})")
    if expect.evidence_level and answer.evidence_level != expect.evidence_level:
        failures.append(f"evidence level {answer.evidence_level}, expected {expect.evidence_level}")
    for word in expect.text_all:
        if word.lower() not in text:
            failures.append(f"text lacks {word!r}")
    if expect.text_any and not any(w.lower() in text for w in expect.text_any):
        failures.append(f"text has none of {list(expect.text_any)}")
    for word in expect.text_none:
        if word.lower() in text:
            failures.append(f"text contains {word!r}")
    return failures
