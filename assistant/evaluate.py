"""The offline eval harness: cases (../shared/contract/answer.md format) -> answers -> pass rate."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from assistant.errors import CorpusError
from assistant.types import Answer, Frozen


class Expect(Frozen):
    kind: str | None = None
    preferred: str | None = None
    options_all: tuple[str, ...] = ()
    options_any: tuple[str, ...] = ()
    options_none: tuple[str, ...] = ()
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


class CaseResult(Frozen):
    id: str
    passed: bool
    failures: tuple[str, ...]
    answer: Answer


def load_cases(path: Path) -> list[EvalCase]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cases.append(EvalCase.model_validate_json(line))
        except ValidationError as exc:
            raise CorpusError(f"{path.name} line {number} is not an eval case: {exc.errors()[0]['msg']}") from None
    ids = [case.id for case in cases]
    if len(ids) != len(set(ids)):
        raise CorpusError(f"{path.name} repeats case ids")
    return cases


def load_aliases(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"The aliases file {path} cannot be read: {exc}") from None
    return {str(name): tuple(str(s).lower() for s in strings) for name, strings in data.items()}


def failed_expectations(expect: Expect, answer: Answer, aliases: dict[str, tuple[str, ...]]) -> list[str]:
    """What the answer misses, in words; empty when it passes."""
    def matches(group: str, text: str) -> bool:
        if group not in aliases:
            raise CorpusError(f"Alias group {group!r} is not in the aliases file")
        return any(s in text.lower() for s in aliases[group])

    options = [r.option for r in answer.recommendations]
    refs = {c.ref for c in answer.citations if c.ref is not None}
    text = answer.text.lower()
    failures = []
    if expect.kind and answer.kind != expect.kind:
        failures.append(f"kind is {answer.kind}, expected {expect.kind}")
    if expect.preferred and not (options and matches(expect.preferred, options[0])):
        failures.append(f"preferred is {options[0] if options else None!r}, expected {expect.preferred}")
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


def run_cases(cases: Sequence[EvalCase], answer: Callable[[Sequence[str]], Answer],
              aliases: dict[str, tuple[str, ...]]) -> list[CaseResult]:
    """Each case in a fresh conversation: the answer to its last turn, checked."""
    results = []
    for case in cases:
        reply = answer(list(case.turns))
        failures = failed_expectations(case.expect, reply, aliases)
        results.append(CaseResult(id=case.id, passed=not failures, failures=tuple(failures), answer=reply))
    return results


def write_answers(results: Sequence[CaseResult], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for result in results:
            record: dict[str, Any] = {"id": result.id, "answer": result.answer.model_dump(mode="json")}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def report(results: Sequence[CaseResult], cases: Sequence[EvalCase]) -> str:
    passed = sum(r.passed for r in results)
    lines = [f"{passed}/{len(results)} cases passed ({100 * passed / max(1, len(results)):.1f}%)."]
    turns = {case.id: case.turns for case in cases}
    for result in results:
        if not result.passed:
            question = turns[result.id][-1]
            lines.append(f"FAIL {result.id}: {'; '.join(result.failures)}  <- {question[:100]!r}")
    return "\n".join(lines)
