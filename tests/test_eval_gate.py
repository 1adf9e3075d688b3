"""CI's gate on the committed cases (evals/thresholds.json, one file), and what the cases cover:
every rule, every study card and every kind of answer."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml

from assistant.evaluation.cases import load_aliases, load_eval_file
from assistant.evaluation.metrics import Corpus
from assistant.evaluation.run import System, SystemRun, check_thresholds, evaluate_files
from assistant.types import Kind
from tests.conftest import CORPUS, EVALS

# Cards no answer cites although cases ask for them; each entry names the failing cases. The test
# fails when a new card joins this list or when one is cited again (then remove it here).
# Empty since 2026-12-07: the DESTINY-Breast03 post-progression analysis (C242, C245) is cited by the review sentence
# that states its figures.
KNOWN_UNCITED: dict[str, str] = {}


@pytest.fixture(scope="module")
def committed(assistant: Any, index: Any, corpus: Any) -> tuple[dict[str, Any], SystemRun]:
    """The assistant on every committed case file (evals/*.jsonl and evals/holdout/), no baseline."""
    paths = sorted(EVALS.glob("*.jsonl")) + sorted((EVALS / "holdout").glob("*.jsonl"))
    files = [f for f in (load_eval_file(p) for p in paths) if f.kind == "cases"]
    checker = Corpus((c.text for c in index.chunks), index.review, corpus.original, index.cards)
    return evaluate_files(files, load_aliases(EVALS / "aliases.json"), checker,
                          System("assistant", assistant.answer, None), None, source="tests",
                          corpus_version=assistant.corpus_version)


def test_the_committed_cases_meet_every_committed_threshold(committed: tuple[dict[str, Any], SystemRun]) -> None:
    result, _ = committed
    thresholds = json.loads((EVALS / "thresholds.json").read_text())
    assert {"pass_rate", "quote_faithfulness", "number_faithfulness", "citation_precision",
            "evidence_level_accuracy"} <= set(thresholds["metrics"])
    assert check_thresholds(result, thresholds) == []


def test_the_holdout_is_within_five_points_of_the_committed_cases(
        committed: tuple[dict[str, Any], SystemRun]) -> None:
    """The issue's target, held by the thresholds file (check_thresholds above applies it too)."""
    result, _ = committed
    thresholds = json.loads((EVALS / "thresholds.json").read_text())
    assert thresholds["holdout_max_gap"] <= 0.05
    splits = result["systems"]["assistant"]["by_split"]
    gap = splits["dev"]["pass_rate"] - splits["holdout"]["pass_rate"]
    failed = [c["key"] for c in result["cases"] if c["split"] == "holdout" and not c["passed"]]
    assert gap <= thresholds["holdout_max_gap"], f"holdout {100 * gap:.1f} points below; failing: {failed}"


def test_the_holdout_is_reported_as_its_own_split(committed: tuple[dict[str, Any], SystemRun]) -> None:
    result, _ = committed
    splits = result["systems"]["assistant"]["by_split"]
    assert set(splits) == {"dev", "holdout"}
    assert splits["holdout"]["n"] >= 30


# --- coverage: what the committed cases (evals/*.jsonl, not the holdout) exercise and pass -------------


def _rule_ids() -> set[str]:
    return {rule["id"] for path in (CORPUS / "rules").glob("*.yaml")
            for rule in yaml.safe_load(path.read_text(encoding="utf-8"))}


def _passing_committed_answers(result: dict[str, Any], run: SystemRun) -> list[Any]:
    """The answers of the committed cases that pass: a rule that fires, or a card cited, only in a
    failing answer is not yet shown to work."""
    return [run.answers[c["key"]] for c in result["cases"] if c["split"] == "dev" and c["passed"]]


def test_every_rule_fires_in_a_passing_committed_case(committed: tuple[dict[str, Any], SystemRun]) -> None:
    answers = _passing_committed_answers(*committed)
    fired = {rule for answer in answers for rule in answer.rule_ids}
    assert len(_rule_ids()) >= 28
    uncovered = sorted(_rule_ids() - fired)
    assert uncovered == [], f"rules no passing committed case fires: {uncovered}"


def test_every_study_card_is_cited_by_a_passing_committed_case(committed: tuple[dict[str, Any], SystemRun],
                                                               index: Any) -> None:
    answers = _passing_committed_answers(*committed)
    trials = {c.trial for answer in answers for c in answer.citations if c.trial}
    refs = {c.ref for answer in answers for c in answer.citations if c.ref is not None}
    uncited = {card.name for card in index.cards if card.name not in trials and not set(card.refs) & refs}
    assert len(index.cards) >= 35
    assert uncited - set(KNOWN_UNCITED) == set(), f"study cards no passing committed case cites: {sorted(uncited)}"
    assert set(KNOWN_UNCITED) - uncited == set(), (
        f"cited now, remove from KNOWN_UNCITED: {sorted(set(KNOWN_UNCITED) - uncited)}")


def test_every_kind_of_answer_is_expected_and_given_by_a_passing_committed_case(
        committed: tuple[dict[str, Any], SystemRun]) -> None:
    result, _ = committed
    passing = {c["kind"] for c in result["cases"] if c["split"] == "dev" and c["passed"]}
    uncovered = sorted(set(typing.get_args(Kind)) - passing)
    assert uncovered == [], f"kinds no passing committed case expects: {uncovered}"


def test_the_gate_reads_one_thresholds_file() -> None:
    """The per-file pass rates, the metric thresholds and the holdout gap live in the same file."""
    thresholds = json.loads(Path(EVALS / "thresholds.json").read_text())
    assert thresholds["cases.jsonl"] >= 0.95
    assert thresholds["metrics"]["quote_faithfulness"] == 1.0
    assert "holdout_max_gap" in thresholds
