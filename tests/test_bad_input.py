"""Hostile and broken input at the command line and at Assistant.answer: no traceback, a clear answer of
the right kind, a non-zero exit where it is refused, nothing echoed raw, and the next request unharmed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import get_args

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import assistant.cli as cli_module
from assistant.cli import cli
from assistant.conversation import Assistant
from assistant.settings import ROOT, Settings, get_settings
from assistant.textclean import clean_text
from assistant.types import Answer

KINDS = set(get_args(Answer.model_fields["kind"].annotation))
GOOD = "What did the KATE2 trial find?"
CASE = "HER2+ MBC after trastuzumab and docetaxel, no prior ADC"

# what a hostile terminal user can type: ESC c (reset), CSI (7- and 8-bit), OSC title and hyperlink,
# DCS, bare ESC, C1 controls, bidi overrides
ESCAPES = ["\x1bc", "\x1b[2J", "\x1b[31m", "\x9b2J", "\x9b31m", "\x1b]0;owned\x07", "\x1b]8;;http://x.test\x1b\\",
           "\x1bP+q\x1b\\", "\x1b", "\x85", "\x9d0;t\x9c", "\u202e", "\x1b[?1049h"]
INVALID = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x9b31m", b"\xe2\x82", b"\xf0\x9f\x98"]

pieces = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ESCAPES),
    st.sampled_from(INVALID).map(os.fsdecode),  # what Python makes of invalid UTF-8 in argv or stdin
    st.binary(max_size=30).map(os.fsdecode),
    st.sampled_from([GOOD, CASE, "T-DXd", "<script>alert(1)</script>", "\x00", "   ", "\t\n"]),
)
hostile = st.lists(pieces, min_size=1, max_size=5).map("".join)


def _raw(text: str) -> list[str]:
    """Characters that must never reach a terminal: escape, C1 controls, lone surrogates."""
    return [c for c in text if c == "\x1b" or "\x80" <= c <= "\x9f" or "\ud800" <= c <= "\udfff"]


@pytest.fixture
def shared(assistant: Assistant) -> Iterator[None]:
    """The CLI commands use the session's Assistant, so hundreds of invocations do not reload the model."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli_module, "_assistant", lambda _settings: assistant)
        patch.setattr(cli_module, "_searcher", lambda _settings: assistant)
        yield


def _invoke(settings: Settings, args: list[str], **kwargs: object) -> Result:
    env = {"ASSISTANT_INDEX_DIR": str(settings.index_dir), **kwargs.pop("env", {})}  # type: ignore[dict-item]
    return CliRunner().invoke(cli, args, env=env, **kwargs)  # type: ignore[arg-type]


def _clean_exit(result: Result, *, chat: bool = False) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in {0, 1}
    assert "Traceback" not in result.output
    printed = _printed(result.output) if chat else result.output
    assert _raw(printed) == [], f"raw control characters echoed: {_raw(printed)}"


def _printed(output: str) -> str:
    """A chat's output without CliRunner's echo of each typed line (a terminal shows what was typed itself)."""
    chunks = output.split("you> ")
    return chunks[0] + "".join(chunk.split("\n", 1)[1] if "\n" in chunk else "" for chunk in chunks[1:])


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=hostile)
def test_ask_never_crashes_and_never_echoes_control_sequences(settings: Settings, shared: None, question: str) -> None:
    # "--" ends the options, as a user must type it for a question that starts with "-" ("-0", "-ve HER2?")
    for args in (["ask", "--", question], ["ask", "--json", "--", question]):
        result = _invoke(settings, args)
        _clean_exit(result)
        if result.exit_code == 0:
            assert "(error;" not in result.output
            assert '"kind": "error"' not in result.output
        else:
            assert any(mark in result.output for mark in ("Error:", "(error;", '"kind": "error"'))


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=hostile)
def test_search_never_crashes(settings: Settings, shared: None, query: str) -> None:
    result = _invoke(settings, ["search", query, "--k", "2", "--json"])
    _clean_exit(result)
    if result.exit_code == 1:
        assert result.output.startswith("Error: The query")


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(turns=st.lists(hostile, min_size=1, max_size=3))
def test_chat_survives_any_line_and_answers_the_next(settings: Settings, shared: None, turns: list[str]) -> None:
    lines = [t.replace("\n", " ").replace("\r", " ") for t in turns]
    stdin = ("\n".join([*lines, "new", GOOD]) + "\n").encode("utf-8", "surrogateescape")
    result = _invoke(settings, ["chat"], input=stdin)
    _clean_exit(result, chat=True)
    assert result.exit_code == 0
    assert "(new conversation)" in result.output
    assert result.output.rstrip().endswith("you>")
    assert "**KATE2**" in result.output.split("(new conversation)")[-1]


@hypothesis_settings(max_examples=80, deadline=None)
@given(messages=st.lists(hostile.map(clean_text), min_size=1, max_size=4))
def test_answer_gives_an_answer_of_a_known_kind_for_any_text(assistant: Assistant, messages: list[str]) -> None:
    answer = assistant.answer(messages)
    assert answer.kind in KINDS
    assert answer.text.strip()
    assert _raw(answer.model_dump_json()) == []
    assert assistant.answer([GOOD]).kind == "fact"  # nothing breaks the next request


def test_answer_reads_lone_surrogates(assistant: Assistant) -> None:
    assert assistant.answer([os.fsdecode(b"What is ant\xffibody-drug conjugate resistance?")]).kind == "explanation"


# --- the table: each kind of bad input, the answer a user sees, the exit code ---------------------------------


@pytest.mark.parametrize(
    ("question", "exit_code", "shown"),
    [("", 1, "The question is empty"),
     ("   \t  ", 1, "The question is empty"),
     ("\x1bc\x1b[2J", 1, "The question is empty"),
     ("x" * 1_000_000, 1, "the limit is 20,000"),
     ("HER2 " * 1_000_000, 1, "the limit is 20,000"),
     ("KATE2\x00 result", 1, "binary data"),
     (os.fsdecode(bytes(range(0xA0, 0x100)) * 4), 1, "not valid UTF-8"),
     ("<script>alert(1)</script>", 1, "only markup"),
     (f"\x1bc{GOOD}\x9b2J", 0, "**KATE2**"),
     (os.fsdecode(b"What did the KATE2 trial find\xff?"), 0, "**KATE2**"),
     ("HER2+ MBC after trastuzumab and \x1b[31mdocetaxel\x1b[0m, no prior ADC", 0, "Preferred: trastuzumab deruxtecan")],
    ids=["empty", "whitespace", "only-escapes", "1MB", "5MB", "nul", "invalid-utf8-only", "markup-only",
         "escapes-around-question", "invalid-byte-in-question", "sgr-inside-case"],
)
def test_each_kind_of_bad_input_gets_its_message(settings: Settings, shared: None, question: str, exit_code: int,
                                                  shown: str) -> None:
    result = _invoke(settings, ["ask", question])
    _clean_exit(result)
    assert result.exit_code == exit_code, result.output
    assert shown in result.output
    if exit_code == 1 and question.strip():
        assert question[:200] not in result.output  # a refused input is never echoed


def test_chat_caps_turns_and_size_with_a_clear_message(settings: Settings, shared: None) -> None:
    env = {"ASSISTANT_MAX_TURNS": "5", "ASSISTANT_MAX_CONVERSATION_CHARS": "3000"}
    lines = ["HER2-positive metastatic breast cancer."] * 7 + ["new", "a" * 1500, "b" * 1600, "new", GOOD]
    result = _invoke(settings, ["chat"], input="\n".join(lines) + "\n", env=env)
    _clean_exit(result, chat=True)
    assert result.exit_code == 0
    assert result.output.count("reached its limit of 5 messages") == 2  # turns 6 and 7
    assert "holds 3,100 characters; the limit is 3,000" in result.output
    assert "**KATE2**" in result.output.split("(new conversation)")[-1]


def test_two_hundred_long_turns_stay_bounded(settings: Settings, shared: None) -> None:
    """The default caps: a conversation stops at 50 messages and 100,000 characters, each refusal says why."""
    long_turn = "HER2-low HR-positive metastatic breast cancer after CDK4/6 and one chemotherapy; " * 25
    result = _invoke(settings, ["chat"], input="\n".join([long_turn] * 200) + "\n")
    _clean_exit(result, chat=True)
    refused = result.output.count("Start a new conversation")
    answered = result.output.count("corpus_version")
    assert refused >= 150
    assert answered - 1 <= 50  # the banner names the corpus_version once


def test_user_text_is_logged_only_when_the_setting_says_so(settings: Settings) -> None:
    """The real commands (each its own Assistant, built from the environment's settings)."""
    canary = "canary-5f3a9 What did the KATE2 trial find?"
    quiet = _invoke(settings, ["ask", canary])
    assert quiet.exit_code == 0
    assert "canary-5f3a9" not in quiet.stderr
    get_settings.cache_clear()  # one process, two environments
    logged = _invoke(settings, ["ask", canary], env={"ASSISTANT_LOG_USER_TEXT": "true"})
    assert logged.exit_code == 0
    assert "canary-5f3a9" in logged.stderr
    assert "INFO" in logged.stderr
    get_settings.cache_clear()
    escaped = _invoke(settings, ["ask", "canary-77 \x1b]0;t\x07KATE2?"], env={"ASSISTANT_LOG_USER_TEXT": "true"})
    assert "canary-77" in escaped.stderr and _raw(escaped.stderr) == []  # noqa: PT018


def test_a_real_terminal_session_with_invalid_utf8(settings: Settings) -> None:
    """Real processes under a UTF-8 locale: argv and stdin carry bytes that are not UTF-8."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "ASSISTANT_INDEX_DIR": str(settings.index_dir), "HOME": os.environ.get("HOME", "/tmp")}
    question = b"What is ant\xffibody-drug conjugate \x9b2J resistance?"
    ask = subprocess.run([sys.executable.encode(), b"-m", b"assistant.cli", b"ask", b"--json", question],
                         capture_output=True, env=env, cwd=ROOT, check=False)
    assert ask.returncode == 0, ask.stderr.decode(errors="replace")[-500:]
    assert b"Traceback" not in ask.stderr
    assert b"\x1b" not in ask.stdout
    assert b"\x9b" not in ask.stdout
    chat = subprocess.run([sys.executable, "-m", "assistant.cli", "chat"], input=question + b"\n" + GOOD.encode() + b"\n",
                          capture_output=True, env=env, cwd=ROOT, check=False)
    assert chat.returncode == 0, chat.stderr.decode(errors="replace")[-500:]
    assert b"Traceback" not in chat.stderr
    assert b"**KATE2**" in chat.stdout
