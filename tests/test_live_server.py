"""The served app follows a rebuild without a restart: the real server in a subprocess, a real
`assistant index build` in another, requests all along. Nothing fails during the build, and the same
server process then answers from the new build."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from assistant.bench import ServerProcess
from assistant.settings import ROOT, Settings

pytestmark = [pytest.mark.slow, pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]

CASE = ["HER2-low (IHC 1+), ER-positive metastatic breast cancer after a CDK4/6 inhibitor and one line of "
        "chemotherapy. What next?"]
MARK = "REBUILD-7c1"


def _private_copy(settings: Settings, root: Path) -> Settings:
    """The index, the corpus and the prompts copied under `root`, so the corpus can change and be rebuilt."""
    shutil.copytree(settings.corpus_dir, root / "corpus")
    shutil.copytree(ROOT / "prompts", root / "prompts")
    shutil.copytree(settings.index_dir, root / "index", ignore=shutil.ignore_patterns(".lock"))
    return settings.model_copy(update={"corpus_dir": root / "corpus", "index_dir": root / "index"})


def test_the_server_answers_from_a_new_build_without_restart_and_no_request_fails(
        settings: Settings, tmp_path: Path) -> None:
    copied = _private_copy(settings, tmp_path)
    with ServerProcess(copied, tmp_path / "server.log", env={"GRADIO_TEMP_DIR": str(tmp_path / "gradio")}) as server:
        assert server.process is not None
        pid = server.process.pid
        before = httpx.post(server.url + "/api/answer", json={"messages": CASE}, timeout=60).json()
        assert before["kind"] == "recommendation"
        assert MARK not in before["safety_note"]

        # a corpus change that every recommendation shows: the general safety note
        safety = copied.corpus_dir / "safety.yaml"
        text = safety.read_text(encoding="utf-8")
        safety.write_text(text.replace("Decision support from one review", f"Decision support ({MARK}) from one review"),
                          encoding="utf-8")

        seen: list[tuple[int, str, str]] = []  # status, corpus_version, safety note
        building = threading.Event()
        building.set()

        def ask_all_along() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                while building.is_set():
                    response = client.post("/api/answer", json={"messages": CASE})
                    body = response.json()
                    seen.append((response.status_code, body.get("corpus_version", ""), body.get("safety_note") or ""))
                    time.sleep(0.3)  # a few requests a second leave the build its share of the two cores

        clients = [threading.Thread(target=ask_all_along) for _ in range(2)]
        for client in clients:
            client.start()
        build = subprocess.run([sys.executable, "-m", "assistant.cli", "index", "build"], cwd=ROOT,
                               env=server.environment, capture_output=True, text=True, timeout=600, check=False)
        time.sleep(1.0)  # requests keep coming across the switch
        building.clear()
        for client in clients:
            client.join(timeout=120)
        assert build.returncode == 0, build.stdout + build.stderr

        after = httpx.post(server.url + "/api/answer", json={"messages": CASE}, timeout=60).json()
        assert server.process.pid == pid and server.process.poll() is None  # noqa: PT018  (the same process)

    print(f"{len(seen)} answers during and after the rebuild")
    assert [s for s, _, _ in seen] == [200] * len(seen)  # no failed request during the rebuild
    assert len(seen) > 10
    assert after["corpus_version"] != before["corpus_version"]
    assert MARK in after["safety_note"]
    assert after["recommendations"] == before["recommendations"]
    # every answer came whole from one build: the old one, then (once switched) only the new one
    versions = [v for _, v, _ in seen]
    assert set(versions) <= {before["corpus_version"], after["corpus_version"]}
    switched = versions.index(after["corpus_version"]) if after["corpus_version"] in versions else len(versions)
    assert all(v == after["corpus_version"] for v in versions[switched:])
    assert all((MARK in note) == (v == after["corpus_version"]) for _, v, note in seen)
    assert "index switched from" in server.log_path.read_text(errors="replace")
