"""The command line: JSON output, readable errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.settings import ROOT, Settings


def _env(settings: Settings) -> dict[str, str]:
    return {"ASSISTANT_INDEX_DIR": str(settings.index_dir)}


def test_search_json_prints_passages_with_text_section_refs_and_score(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["search", "DB-03 hazard ratio T-DXd vs T-DM1", "--k", "5", "--json"],
                                env=_env(settings))
    assert result.exit_code == 0, result.output
    passages = json.loads(result.output)
    assert len(passages) == 5
    for passage in passages:
        assert {"text", "section", "refs", "score"} <= passage.keys()
    assert passages[0]["section"] == "2"
    assert 7 in passages[0]["refs"]


def test_search_plain_output_is_readable(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["search", "oligoprogression local therapy", "--k", "2"], env=_env(settings))
    assert result.exit_code == 0
    assert "6.2. Oligoprogression" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["search", ""], "The query is empty"),
     (["search", "x" * 3000], "limit is 2,000"),
     (["search", "HER2", "--study", "nonsense-trial"], "No study card")],
)
def test_bad_input_gives_a_message_not_a_traceback(settings: Settings, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args, env=_env(settings))
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_index_names_the_command_that_builds_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["search", "T-DXd"], env={"ASSISTANT_INDEX_DIR": str(tmp_path / "none")})
    assert result.exit_code == 1
    assert "No index" in result.output
    assert "assistant index build" in result.output


def test_a_broken_corpus_is_reported_by_the_real_command(tmp_path: Path) -> None:
    """A real process: exit code 1 and one line naming the file, no traceback."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = subprocess.run([sys.executable, "-m", "assistant.cli", "index", "build"], cwd=ROOT,
                            capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "ASSISTANT_CORPUS_DIR": str(corpus),
                                 "ASSISTANT_INDEX_DIR": str(tmp_path / "index")})
    assert result.returncode == 1
    assert "Error:" in result.stderr
    assert "review is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_studies_lists_every_card() -> None:
    result = CliRunner().invoke(cli, ["studies"])
    assert result.exit_code == 0
    assert len(result.output.strip().splitlines()) == 35
    assert "DESTINY-Breast03" in result.output


def test_ask_json_prints_the_answer_contract(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["ask", "HER2+ MBC after trastuzumab and docetaxel, no prior ADC", "--json"],
                                env=_env(settings))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["kind"] == "recommendation"
    assert answer["recommendations"][0]["option"] == "trastuzumab deruxtecan (T-DXd)"
    assert answer["evidence_level"] == "I"
    assert 7 in {c["ref"] for c in answer["citations"]}


def test_ask_plain_shows_text_and_sources(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["ask", "What did the KATE2 trial find?"], env=_env(settings))
    assert result.exit_code == 0
    assert "KATE2" in result.output and "Sources" in result.output and "[23]" in result.output  # noqa: PT018


def test_chat_keeps_the_conversation_and_starts_over_on_new(settings: Settings) -> None:
    turns = "Triple-negative metastatic breast cancer.\nHER2 is IHC 0, progressed after first-line chemo-immunotherapy.\nnew\nWhich ADC should I use?\n"
    result = CliRunner().invoke(cli, ["chat"], input=turns, env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "Preferred: sacituzumab govitecan (SG)" in result.output
    assert "(new conversation)" in result.output
    assert result.output.count("(clarification;") == 2


def test_eval_writes_contract_answers_and_prints_failures(settings: Settings, tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        '{"id": "A1", "turns": ["What is the best treatment for metastatic prostate cancer?"], "expect": {"kind": "out_of_scope"}}\n'
        '{"id": "A2", "turns": ["Which ADC should I use?"], "expect": {"kind": "recommendation"}}\n')
    answers = tmp_path / "answers.jsonl"
    result = CliRunner().invoke(cli, ["eval", str(cases), "--answers-out", str(answers),
                                      "--aliases", str(ROOT / "evals" / "aliases.json")], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "1/2 cases passed (50.0%)" in result.output
    assert "FAIL A2: kind is clarification, expected recommendation" in result.output
    lines = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["A1", "A2"]
    assert lines[0]["answer"]["kind"] == "out_of_scope"
    failing = CliRunner().invoke(cli, ["eval", str(cases), "--min-pass-rate", "0.9",
                                       "--aliases", str(ROOT / "evals" / "aliases.json")], env=_env(settings))
    assert failing.exit_code == 1
    assert "below the threshold" in failing.output


def test_a_broken_rule_stops_the_index_build(tmp_path: Path) -> None:
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    (tmp_path / "prompts").mkdir()
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts", dirs_exist_ok=True)
    rules = corpus / "rules" / "oligoprogression.yaml"
    rules.write_text(rules.read_text().replace("oligoprogression: true", "oligoprogresion: true"))
    result = CliRunner().invoke(cli, ["index", "build"], env={"ASSISTANT_CORPUS_DIR": str(corpus),
                                                             "ASSISTANT_INDEX_DIR": str(tmp_path / "index")})
    assert result.exit_code == 1
    assert "oligoprogression.yaml, rule OLIGOPROGRESSION-ON-ADC" in result.output
    assert "unknown fact 'oligoprogresion'" in result.output
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_references_prints_the_57_typed_entries() -> None:
    result = CliRunner().invoke(cli, ["references", "--json"])
    assert result.exit_code == 0
    entries = json.loads(result.output)
    assert [e["number"] for e in entries] == list(range(1, 58))
    assert entries[6]["journal"] == "N. Engl. J. Med." and entries[6]["year"] == 2022  # noqa: PT018
