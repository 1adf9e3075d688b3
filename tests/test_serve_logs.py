"""Nothing a user typed reaches the server's log: the access log loses query strings (GET /api/note)."""

from __future__ import annotations

import logging

from click.testing import CliRunner

from assistant.cli import cli
from assistant.serve.app import RedactQuery


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/api/note?messages=HER2-low+Mrs+Smith", "1.1", 200), None)
    assert RedactQuery().filter(record)
    line = record.getMessage()
    assert "Smith" not in line
    assert "/api/note?…" in line


def test_serve_command_documents_host_and_port() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output
    assert "--port" in result.output
