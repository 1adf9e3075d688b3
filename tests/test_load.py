"""The load benchmark in its short bounded form: the real server (`assistant serve`) in a subprocess on
127.0.0.1, the eval conversations played turn by turn by many concurrent clients. The full form (10,000
requests, 100 clients, 2 workers) is `assistant bench load`, figures in docs/load-benchmark.md."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from assistant.bench import ServerProcess, _percentile, conversations_of, drive_load
from assistant.settings import Settings
from tests.conftest import EVALS

pytestmark = [pytest.mark.slow, pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("load")
    with ServerProcess(settings, folder / "server.log", env={"GRADIO_TEMP_DIR": str(folder / "gradio")}) as running:
        drive_load(running.url, conversations_of([EVALS / "cases.jsonl"]), clients=8, requests=40, max_seconds=30)
        yield running


@pytest.fixture(scope="module")
def conversations() -> list[list[str]]:
    return conversations_of([EVALS / "cases.jsonl"])


def test_twenty_clients_are_all_answered_with_p95_under_two_seconds(server: ServerProcess,
                                                                     conversations: list[list[str]]) -> None:
    result = drive_load(server.url, conversations, clients=20, requests=100, max_seconds=30, rss=server.rss,
                        cpu_seconds=server.cpu_seconds)
    print(result.render())
    assert result.statuses == [200] * result.requests, result.render()
    assert result.requests == 100
    assert "error" not in result.kinds
    # The 2 s target assumes the server has a core (its work holds the GIL: about 0.9-1.1 cores when alone).
    # On a machine busy with other work it gets less, and the bound stretches by the share it did not get.
    limit = 2000 / min(1.0, max(result.server_cores, 0.1) / 0.9)
    assert _percentile(result.answered_ms(), 0.95) < limit, result.render()


def test_a_burst_of_a_hundred_clients_gets_answers_or_busy_never_an_error_or_a_hang(
        server: ServerProcess, conversations: list[list[str]]) -> None:
    result = drive_load(server.url, conversations, clients=100, requests=150, max_seconds=30, rss=server.rss,
                        request_timeout=20)
    print(result.render())
    assert set(result.statuses) <= {200, 503}, result.render()  # no timeout, no broken connection, no 500
    assert result.count(200) > 0
    for status, kind in zip(result.statuses, result.kinds, strict=True):
        assert (kind == "error") == (status == 503)  # "busy" is an Answer of kind error; every 200 a real answer
    assert max(result.latencies_ms) < 20_000
    assert httpx.get(server.url + "/api/health", timeout=10).status_code == 200  # and it still serves


def test_the_same_traffic_again_does_not_grow_the_server(server: ServerProcess,
                                                         conversations: list[list[str]]) -> None:
    """A short soak: once its caches hold these conversations, repeating them adds no memory (the 10,000
    request form is in docs/load-benchmark.md)."""
    rounds = [drive_load(server.url, conversations[:40], clients=20, requests=120, max_seconds=30, rss=server.rss)
              for _ in range(3)]
    for result in rounds:
        print(result.render())
        assert result.errors == 0
    growth = rounds[2].rss_at(1) - rounds[0].rss_at(1)
    assert growth < 25 * MB, f"RSS grew {growth / MB:.0f} MB over two repeats of the same 120 requests"


def test_bench_load_takes_clients_requests_and_a_time_bound() -> None:
    """The command (run in full by the documented commands; its server start costs 20 s, so not here)."""
    from click.testing import CliRunner

    from assistant.cli import cli

    result = CliRunner().invoke(cli, ["bench", "load", "--help"])
    assert result.exit_code == 0
    for option in ("--clients", "--requests", "--max-seconds", "--workers"):
        assert option in result.output


def test_the_load_client_refuses_any_host_but_loopback() -> None:
    with pytest.raises(ValueError, match="local server only"):
        drive_load("http://example.org:80", [["x"]], clients=1, requests=1, max_seconds=1)
