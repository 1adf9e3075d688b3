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
