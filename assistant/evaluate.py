"""The eval harness's core: cases -> answers -> pass/fail (the rest of the product is assistant/evaluation/)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assistant.evaluation.cases import (
    EvalCase,
    Expect,
    failed_expectations,
    load_aliases,
    load_cases,
)
from assistant.types import Answer, Frozen

__all__ = ["CaseResult", "EvalCase", "Expect", "failed_expectations", "load_aliases", "load_cases", "report",
           "run_cases", "write_answers"]


class CaseResult(Frozen):
    id: str
    passed: bool
    failures: tuple[str, ...]
    answer: Answer
    latency_ms: float = 0.0  # wall time of the answer, replaying the whole conversation


def run_cases(cases: Sequence[EvalCase], answer: Callable[[Sequence[str]], Answer],
              aliases: dict[str, tuple[str, ...]]) -> list[CaseResult]:
    """Each case in a fresh conversation: the answer to its last turn, checked."""
    results = []
    for case in cases:
        started = time.perf_counter()
        reply = answer(list(case.turns))
        elapsed = (time.perf_counter() - started) * 1000
        failures = failed_expectations(case.expect, reply, aliases)
        results.append(CaseResult(id=case.id, passed=not failures, failures=tuple(failures), answer=reply,
                                  latency_ms=elapsed))
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
