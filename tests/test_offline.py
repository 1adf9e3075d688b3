"""No telemetry leaves the machine: the app switches every library's off (Hugging Face, Gradio, Chroma), and the
real server starts and answers inside a network namespace that has no network at all (loopback only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from assistant.conversation import Assistant
from assistant.settings import ROOT, Settings

# flag -> the value it must have (read case-blind, as the libraries do: "1" and "true" both mean on)
FLAGS = {"HF_HUB_OFFLINE": True, "TRANSFORMERS_OFFLINE": True, "HF_HUB_DISABLE_TELEMETRY": True,
         "GRADIO_ANALYTICS_ENABLED": False, "ANONYMIZED_TELEMETRY": False, "DO_NOT_TRACK": True}


def test_the_app_sets_the_offline_and_telemetry_flags(settings: Settings, assistant: Assistant,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key in FLAGS:
        monkeypatch.delenv(key, raising=False)
    from assistant.serve import create_app

    create_app(settings, assistant=assistant)
    seen = {key: os.environ.get(key, "").lower() for key in FLAGS}
    assert {key: value in {"1", "true", "yes"} for key, value in seen.items()} == FLAGS, seen
    assert all(seen[key] in {"0", "false", "no"} for key, on in FLAGS.items() if not on), seen

    import gradio.analytics

    assert gradio.analytics.analytics_enabled() is False
    client = assistant.index.store._store._client  # the chromadb client behind langchain's store
    assert client.get_settings().anonymized_telemetry is False


# Run inside the namespace: bring loopback up, prove nothing else is reachable, serve, ask, print what happened.
_INSIDE = r"""
import fcntl, json, os, socket, struct, sys, tempfile
from pathlib import Path

probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sh", fcntl.ioctl(probe, 0x8913, struct.pack("16sh", b"lo", 0)))[1]  # SIOCGIFFLAGS
fcntl.ioctl(probe, 0x8914, struct.pack("16sh", b"lo", flags | 0x1))  # SIOCSIFFLAGS: IFF_UP
outside = {}
for host in ("1.1.1.1", "140.82.112.3"):  # any public address: no route
    try:
        socket.create_connection((host, 443), timeout=3).close()
        outside[host] = "connected"
    except OSError as exc:
        outside[host] = type(exc).__name__
try:
    socket.getaddrinfo("huggingface.co", 443)
    outside["dns"] = "resolved"
except OSError as exc:
    outside["dns"] = type(exc).__name__

import httpx
from assistant.bench import ServerProcess
from assistant.settings import Settings

folder = Path(tempfile.mkdtemp(prefix="offline-"))
settings = Settings(index_dir=Path(os.environ["OFFLINE_INDEX_DIR"]))
with ServerProcess(settings, folder / "server.log", env={"GRADIO_TEMP_DIR": str(folder / "gradio")}) as server:
    answer = httpx.post(server.url + "/api/answer", timeout=60,
                        json={"messages": ["HER2-positive metastatic breast cancer after trastuzumab, pertuzumab and a taxane. Next?"]})
    page = httpx.get(server.url + "/", timeout=60)
print(json.dumps({"outside": outside, "status": answer.status_code, "answer": answer.json(),
                  "page": page.status_code, "log": server.log_path.read_text(errors="replace")}))
"""


def _namespace() -> list[str] | None:
    """The command prefix that opens a new network namespace here, or None."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-rn"], ["unshare", "-n"]):
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix
    return None


@pytest.mark.slow
def test_the_server_starts_and_answers_with_no_network_at_all(settings: Settings) -> None:
    prefix = _namespace()
    if prefix is None:
        pytest.skip("no network namespace can be opened here (unshare missing, or neither user nor network "
                    "namespaces are permitted)")
    env = {**os.environ, "OFFLINE_INDEX_DIR": str(settings.index_dir)}
    run = subprocess.run([*prefix, sys.executable, "-c", _INSIDE], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert all(result != "connected" for result in seen["outside"].values()), seen["outside"]
    assert seen["outside"]["dns"] != "resolved"
    assert seen["status"] == 200
    assert seen["answer"]["kind"] == "recommendation"
    assert seen["page"] == 200
    log = seen["log"].lower()
    for word in ("traceback", "telemetry", "analytics", "connectionerror", "failed to send", "max retries"):
        assert word not in log, seen["log"]
