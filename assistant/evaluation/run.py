"""One eval run: every file, answered by the assistant (in-process or a server) and the naive baseline,
scored the same way, gathered into one JSON-ready result that the reports and the gate read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.errors import CorpusError
from assistant.evaluate import CaseResult
from assistant.evaluation.cases import Aliases, EvalFile, check_alias_groups, failed_expectations
from assistant.evaluation.metrics import (
    CaseScore,
    Corpus,
    RetrievalScore,
    group,
    score_case,
    score_ranking,
    summarise,
    summarise_retrieval,
)
from assistant.types import Answer

AnswerFn = Callable[[Sequence[str]], Answer]
SearchFn = Callable[[str], list[list[str]]]


@dataclass
class SystemRun:
    """What one system (assistant or baseline) did on every case and labelled question."""

    name: str
    scores: list[CaseScore] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)  # "file:id" -> answer
    retrieval: list[RetrievalScore] = field(default_factory=list)
    retrieval_note: str = ""

    def results(self, file: str) -> list[CaseResult]:
        """The file's cases in the shape of assistant.evaluate (for --answers-out)."""
        return [CaseResult(id=s.id, passed=s.passed, failures=s.failures, answer=self.answers[f"{file}:{s.id}"],
                           latency_ms=s.latency_ms) for s in self.scores if s.file == file]


@dataclass
class System:
    name: str
    answer: AnswerFn
    search: SearchFn | None  # None: the system cannot be asked for passages (e.g. a remote server)
    note: str = ""
    amortised_ms: float | None = None  # answers computed in one batch beforehand: its time per answer


def run_system(system: System, files: Sequence[EvalFile], aliases: Aliases, corpus: Corpus) -> SystemRun:
    run = SystemRun(system.name, retrieval_note=system.note)
    for eval_file in files:
        for case in eval_file.cases:
            started = time.perf_counter()
            answer = system.answer(list(case.turns))
            elapsed = system.amortised_ms if system.amortised_ms is not None else (
                (time.perf_counter() - started) * 1000)
            run.answers[f"{eval_file.name}:{case.id}"] = answer
            run.scores.append(score_case(case, answer, elapsed, aliases, corpus, file=eval_file.name,
                                         split=eval_file.split))
        if system.search is not None:
            for question in eval_file.questions:
                run.retrieval.append(score_ranking(question.id, eval_file.name, question.kind, question.passages,
                                                   system.search(question.question)))
    return run


def _system_json(run: SystemRun) -> dict[str, Any]:
    retrieval_groups: dict[str, dict[str, list[RetrievalScore]]] = {"file": {}, "kind": {}}
    for score in run.retrieval:
        retrieval_groups["file"].setdefault(score.file, []).append(score)
        retrieval_groups["kind"].setdefault(score.kind, []).append(score)
    return {
        "summary": summarise(run.scores),
        "by_split": group(run.scores, "split"),
        "by_file": group(run.scores, "file"),
        "by_kind": group(run.scores, "kind"),
        "retrieval": {
            "note": run.retrieval_note,
            "summary": summarise_retrieval(run.retrieval),
            "by_file": {k: summarise_retrieval(v) for k, v in retrieval_groups["file"].items()},
            "by_kind": {k: summarise_retrieval(v) for k, v in sorted(retrieval_groups["kind"].items())},
        },
    }


def _answer_view(answer: Answer, passed: bool) -> dict[str, Any]:
    """What a reader of the report needs beside the expectation; the text only for a failed case
    (the full answers are in --answers-out), which keeps a committed results.json small."""
    return {
        "kind": answer.kind,
        "text": "" if passed else answer.text,
        "options": [f"{r.option} ({r.role}, {r.evidence_level})" for r in answer.recommendations],
        "evidence_level": answer.evidence_level,
        "refs": sorted({c.ref for c in answer.citations if c.ref is not None}),
        "rule_ids": list(answer.rule_ids),
        "trials": sorted({c.trial for c in answer.citations if c.trial}),
    }


def evaluate_files(files: Sequence[EvalFile], aliases: Aliases, corpus: Corpus, assistant: System,
                   baseline: System | None, *, source: str, corpus_version: str) -> tuple[dict[str, Any], SystemRun]:
    """Run both systems on every file; the JSON result and the assistant's run (for --answers-out)."""
    for eval_file in files:
        check_alias_groups(eval_file.cases, aliases, eval_file.name)
    if not any(f.cases or f.questions for f in files):
        raise CorpusError("None of the given files holds an eval case or a labelled question.")
    started = time.perf_counter()
    mine = run_system(assistant, files, aliases, corpus)
    assistant_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = run_system(baseline, files, aliases, corpus) if baseline else None
    baseline_seconds = time.perf_counter() - started
    scores = {f"{s.file}:{s.id}": s for s in mine.scores}
    cases = []
    for eval_file in files:
        for case in eval_file.cases:
            key = f"{eval_file.name}:{case.id}"
            score = scores[key]
            entry: dict[str, Any] = {
                "key": key, "file": eval_file.name, "id": case.id, "split": eval_file.split, "kind": score.kind,
                "turns": list(case.turns), "expect": case.expect.model_dump(exclude_defaults=True),
                "passed": score.passed, "failures": list(score.failures), "latency_ms": round(score.latency_ms, 2),
                "unsupported_numbers": list(score.unsupported_numbers), "bad_quotes": list(score.bad_quotes),
                "answer": _answer_view(mine.answers[key], score.passed),
            }
            if theirs:
                entry["baseline_passed"] = not failed_expectations(case.expect, theirs.answers[key], aliases)
            cases.append(entry)
    result: dict[str, Any] = {
        "meta": {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": source,
            "corpus_version": corpus_version,
            "files": [{"name": f.name, "kind": f.kind, "split": f.split, "cases": len(f.cases),
                       "questions": len(f.questions), "note": f.note} for f in files],
            "assistant_seconds": round(assistant_seconds, 2),
            "answer_seconds": round(sum(s.latency_ms for s in mine.scores) / 1000, 2),
            "baseline_seconds": round(baseline_seconds, 2) if baseline else None,
        },
        "systems": {"assistant": _system_json(mine)},
        "cases": cases,
        "retrieval_cases": [vars(s) for s in mine.retrieval],
    }
    if theirs:
        result["systems"]["baseline"] = _system_json(theirs)
    return result, mine


def check_thresholds(result: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """Every committed threshold the run misses, in words; empty when the run passes the gate.

    `metrics` apply to the dev split (the committed sets other than holdout/); a file's own key is
    its minimum pass rate; `holdout_max_gap` bounds how far the holdout's pass rate may fall below
    the dev split's. A threshold on something the run did not measure is skipped, not passed.
    """
    failures = []
    assistant = result["systems"]["assistant"]
    dev = assistant["by_split"].get("dev")
    lower_is_better = {"forbidden_option_rate", "latency_p50_ms", "latency_p95_ms"}
    for name, bound in thresholds.get("metrics", {}).items():
        value = dev.get(name) if dev else None
        if value is None:
            continue
        if (value > bound) if name in lower_is_better else (value < bound):
            failures.append(f"{name} {value:.4f} on the committed cases misses the threshold {bound}")
    for file, figures in assistant["by_file"].items():
        bound = thresholds.get(Path(file).name if not file.startswith("holdout/") else file)
        if isinstance(bound, int | float) and figures["pass_rate"] is not None and figures["pass_rate"] < bound:
            failures.append(f"{file} pass rate {figures['pass_rate']:.4f} is below its threshold {bound}")
    gap = thresholds.get("holdout_max_gap")
    holdout = assistant["by_split"].get("holdout")
    if isinstance(gap, int | float) and holdout and dev:
        difference = dev["pass_rate"] - holdout["pass_rate"]
        if difference > gap:
            failures.append(f"holdout pass rate {holdout['pass_rate']:.4f} is {100 * difference:.1f} points "
                            f"below the committed cases' {dev['pass_rate']:.4f} (allowed {100 * gap:.0f})")
    return failures
