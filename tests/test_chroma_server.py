"""A real Chroma server (`chroma run` from the chromadb package) on loopback holds the vectors: the
same search results and answers as the embedded index."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.chroma_server import chroma_command, push_build
from assistant.settings import Settings

pytestmark = [pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]

QUERIES = ["KATE2 atezolizumab PD-L1", "DESTINY-Breast03 hazard ratio", "brain metastases T-DXd",
           "HER2-low after endocrine therapy", "oligoprogression local therapy", "sacituzumab govitecan TROPiCS-02"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert executable, "the chroma command comes with the chromadb package"
    port = _free_port()
    command = chroma_command(tmp_path_factory.mktemp("chroma-server"), port)
    log = tmp_path_factory.mktemp("chroma-log") / "server.log"
    with open(log, "wb") as output:
        server = subprocess.Popen([executable, *command[1:]], stdout=output, stderr=subprocess.STDOUT,
                                  env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, log.read_text(errors="replace")[-2000:]
                time.sleep(0.2)
        else:
            pytest.fail("the Chroma server did not start within 60 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_server_binds_loopback_only(chroma_url: str) -> None:
    port = int(chroma_url.rsplit(":", 1)[1])
    listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=False)
    if listening.returncode != 0:
        pytest.skip("ss is not available")
    addresses = {line.split()[3] for line in listening.stdout.splitlines() if line.strip()}
    assert addresses == {f"127.0.0.1:{port}"}


def test_search_and_answers_from_the_server_equal_the_embedded_index(settings: Settings, chroma_url: str) -> None:
    from assistant.conversation import Assistant

    served = settings.model_copy(update={"chroma_url": chroma_url})
    embedded = Assistant(settings)
    version, counts = embedded.corpus_version, embedded.index.manifest.counts
    held = push_build(served)
    assert held == {f"review-{version}": counts["chunks"], f"review-sentences-{version}": counts["sentences"],
                    f"review-keys-{version}": counts["keys"]}
    assert push_build(served) == held  # a second push adds nothing

    remote = Assistant(served)
    assert remote.index.workdir is None  # no local vectors are read
    for query in QUERIES:
        here = [(r.passage_id, round(r.score, 4)) for r in embedded.search(query, 5)]
        there = [(r.passage_id, round(r.score, 4)) for r in remote.search(query, 5)]
        assert there == here, query
    for case in (["HER2+ MBC after trastuzumab and docetaxel, no prior ADC"], ["What did the KATE2 trial find?"],
                 ["Why does T-DXd work in HER2-low disease?"]):
        assert remote.answer(case).model_dump() == embedded.answer(case).model_dump()


def test_a_build_not_pushed_names_the_command(settings: Settings, chroma_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import assistant.chroma_server
    from assistant.conversation import Assistant
    from assistant.errors import VectorStoreError

    monkeypatch.setattr(assistant.chroma_server, "server_collection", lambda name, version: f"{name}-never-pushed")
    served = settings.model_copy(update={"chroma_url": chroma_url})
    with pytest.raises(VectorStoreError, match="assistant index push"):
        Assistant(served).search("KATE2")
