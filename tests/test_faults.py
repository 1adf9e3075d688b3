"""Faults an operator meets: damaged builds, chromadb errors, a read-only index, killed builds, a switch
under a running process. Each damaged build must read "broken", never "ready", and be repaired by a
plain `index build`."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from assistant.errors import IndexNotReady, VectorStoreError
from assistant.index import build_index, index_status, open_index, open_store
from assistant.settings import ROOT, Settings


def _copy_index(settings: Settings, tmp_path: Path) -> Settings:
    target = tmp_path / "index"
    shutil.copytree(settings.index_dir, target, ignore=shutil.ignore_patterns(".lock"))
    return settings.model_copy(update={"index_dir": target})


def _current(settings: Settings) -> Path:
    return settings.index_dir / "builds" / (settings.index_dir / "CURRENT").read_text().strip()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble(path: Path, offset: int = 0, size: int = 64) -> None:
    data = bytearray(path.read_bytes())
    offset = offset if offset < len(data) else len(data) // 2
    data[offset:offset + size] = bytes((b ^ 0x5A) for b in data[offset:offset + size])
    path.write_bytes(bytes(data))


def _garble_page(path: Path, page: int = 10) -> None:
    _garble(path, page * 4096, 4096)


def _delete(path: Path) -> None:
    path.unlink()


FAULTS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "truncated chunks.json": ("chunks.json", _truncate),
    "garbled chunks.json": ("chunks.json", lambda p: _garble(p, 400)),
    "truncated review.json": ("review.json", _truncate),
    "garbled review.json": ("review.json", lambda p: _garble(p, 2000)),
    "truncated cards.json": ("cards.json", _truncate),
    "garbled cards.json": ("cards.json", lambda p: _garble(p, 100, 8)),
    "deleted vocabulary.json": ("vocabulary.json", _delete),
    "garbled chroma.sqlite3 header": ("chroma/chroma.sqlite3", lambda p: _garble(p, 0, 100)),
    "deleted chroma.sqlite3": ("chroma/chroma.sqlite3", _delete),
    "garbled sqlite page": ("chroma/chroma.sqlite3", _garble_page),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_build_reads_broken_and_names_the_file(settings: Settings, tmp_path: Path, fault: str) -> None:
    copied = _copy_index(settings, tmp_path)
    name, damage = FAULTS[fault]
    damage(_current(copied) / name)

    status = index_status(copied)
    assert status.health == "broken", status.message
    assert name in status.message
    assert "assistant index build" in status.message
    with pytest.raises(IndexNotReady, match="damaged"):
        open_index(copied)
    result = CliRunner().invoke(cli, ["index", "status"], env={"ASSISTANT_INDEX_DIR": str(copied.index_dir)})
    assert result.exit_code == 1
    assert result.output.startswith("broken:")
    searched = CliRunner().invoke(cli, ["search", "KATE2"], env={"ASSISTANT_INDEX_DIR": str(copied.index_dir)})
    assert searched.exit_code == 1
    assert "damaged" in searched.output
    assert "Traceback" not in searched.output
    assert isinstance(searched.exception, SystemExit)  # a clean exit, not an uncaught error


def test_a_plain_build_repairs_a_truncated_chunk_file(settings: Settings, tmp_path: Path) -> None:
    """The real command, verification from a fresh process included; no --force."""
    copied = _copy_index(settings, tmp_path)
    broken = _current(copied)
    _truncate(broken / "chunks.json")
    result = CliRunner().invoke(cli, ["index", "build"], env={"ASSISTANT_INDEX_DIR": str(copied.index_dir)})
    assert result.exit_code == 0, result.output
    assert "The current index is broken" in result.output
    assert "Index built in" in result.output
    assert "up to date" not in result.output
    assert index_status(copied).health == "ready"
    assert _current(copied) != broken


@pytest.mark.parametrize("fault", ["garbled sqlite page", "deleted vocabulary.json"])
def test_build_without_force_replaces_a_damaged_build(settings: Settings, tmp_path: Path, fault: str) -> None:
    copied = _copy_index(settings, tmp_path)
    broken = _current(copied)
    name, damage = FAULTS[fault]
    damage(broken / name)
    build_index(copied, verify=False)
    assert index_status(copied).health == "ready"
    assert _current(copied) != broken
    assert not broken.exists()  # a damaged build is not kept as the previous one
    from assistant.retrieve import Retriever

    results = Retriever(open_index(copied), copied).search("KATE2 atezolizumab PD-L1", 3)
    assert results[0].section == "3"


@pytest.mark.parametrize("fault", ["garbled chroma.sqlite3 header", "garbled sqlite page", "deleted chroma.sqlite3"])
def test_chromadb_errors_become_the_projects_error(index, tmp_path: Path, fault: str) -> None:  # type: ignore[no-untyped-def]
    """Below the checksums: a store damaged after its check (say, on a failing disk) still gives a clear error."""
    store_dir = tmp_path / "chroma"
    shutil.copytree(index.build / "chroma", store_dir)
    _, damage = FAULTS[fault]
    damage(store_dir / "chroma.sqlite3")
    def open_and_query() -> None:
        store = open_store(store_dir, index.settings.collection_name, index.embedder, "damaged")
        store.similarity_search_by_vector_with_relevance_scores([0.05] * 384, k=3)

    with pytest.raises(VectorStoreError, match="index build"):
        open_and_query()


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_an_unreachable_chroma_server_is_a_clear_error(settings: Settings) -> None:
    from assistant.conversation import Assistant

    served = settings.model_copy(update={"chroma_url": "http://127.0.0.1:9"})  # nothing listens on port 9
    with pytest.raises(VectorStoreError, match="does not answer"):
        Assistant(served).search("KATE2")


# --- a read-only index folder -----------------------------------------------------------------


def _read_only(command: list[str], folder: Path) -> list[str]:
    """The command run with `folder` read-only: a private read-only bind mount when root (root ignores modes)."""
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        return command
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", str(folder), *command]


def test_a_read_only_index_serves_and_build_says_why_it_cannot(settings: Settings) -> None:
    if os.geteuid() == 0 and not shutil.which("unshare"):
        pytest.skip("root ignores file modes, and unshare (util-linux) is missing for a read-only bind mount")
    folder = Path(tempfile.mkdtemp(prefix="readonly-index-"))
    try:
        shutil.copytree(settings.index_dir, folder / "index", ignore=shutil.ignore_patterns(".lock"))
        probe = subprocess.run(_read_only(["touch", str(folder / "index" / "probe")], folder), capture_output=True,
                               text=True, check=False)
        if probe.returncode == 0:
            pytest.skip(f"cannot make a read-only folder here: {probe.stderr.strip()}")
        env = {**os.environ, "ASSISTANT_INDEX_DIR": str(folder / "index")}
        assistant = [sys.executable, "-m", "assistant.cli"]

        status = subprocess.run(_read_only([*assistant, "index", "status"], folder), capture_output=True,
                                text=True, env=env, cwd=ROOT, check=False)
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.startswith("ready:")

        ask = subprocess.run(_read_only([*assistant, "ask", "What did the KATE2 trial find?"], folder),
                             capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        assert ask.returncode == 0, ask.stderr
        assert "KATE2" in ask.stdout and "[23]" in ask.stdout  # noqa: PT018

        build = subprocess.run(_read_only([*assistant, "index", "build", "--force"], folder), capture_output=True,
                               text=True, env=env, cwd=ROOT, check=False)
        assert build.returncode == 1
        assert "is not writable" in build.stderr
        assert "Traceback" not in build.stderr
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


# --- builds killed with SIGKILL -----------------------------------------------------------------


@pytest.mark.slow
def test_builds_killed_at_random_points_leave_the_old_index_serving(settings: Settings, tmp_path: Path) -> None:
    copied = _copy_index(settings, tmp_path)
    builds = copied.index_dir / "builds"
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(copied.index_dir)}
    seed = int(os.environ.get("KILL_SEED", time.time()))
    rng = random.Random(seed)
    delays = sorted(rng.uniform(0.5, 25.0) for _ in range(4))
    print(f"kill seed {seed}, delays {[round(d, 1) for d in delays]} s")
    killed = 0
    for delay in delays:
        serving = _current(copied)
        process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "index", "build", "--force"],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the build and its verifying child
            process.wait()
            killed += 1
        status = index_status(copied)
        assert status.health == "ready", f"after a kill at {delay:.1f} s: {status.message}"
        now = _current(copied)
        # the old build still serves, unless the build had switched to its verified build before the kill
        assert now == serving or (now / "manifest.json").is_file()
    assert killed >= 2, "the builds finished before the kills: nothing was tested"

    from assistant.retrieve import Retriever

    results = Retriever(open_index(copied), copied).search("DESTINY-Breast03 hazard ratio", 3)
    assert results[0].section == "2"

    current = _current(copied)
    build_index(copied)  # up to date: a no-op that clears the debris
    assert _current(copied) == current
    left = {p.name for p in builds.iterdir()}
    assert current.name in left
    assert len(left) <= 2, f"debris left: {sorted(left)}"
    assert all((builds / name / "manifest.json").is_file() for name in left)
    assert not list(copied.index_dir.glob(".*.tmp"))


# --- a running process switches to a new build --------------------------------------------------


def test_a_live_assistant_switches_to_a_new_build_without_restart(settings: Settings, tmp_path: Path) -> None:
    from assistant.live import LiveAssistant

    copied = _copy_index(settings, tmp_path)
    live = LiveAssistant(copied)
    first = live.current()
    assert live.current() is first  # no change: the same object, no reopening
    before = live.answer(["What did the KATE2 trial find?"])
    old_build = _current(copied)

    build_index(copied, force=True, verify=False)
    assert _current(copied) != old_build
    switched = live.current()
    assert switched is not first
    assert switched.index.build == _current(copied)
    after = live.answer(["What did the KATE2 trial find?"])
    assert after.text == before.text
    assert after.kind == "fact"

    # a CURRENT naming a damaged build is refused: the process keeps answering from the build it has
    build_index(copied, force=True, verify=False)
    _truncate(_current(copied) / "cards.json")
    assert live.current() is switched
    assert live.answer(["What did the KATE2 trial find?"]).text == before.text


@pytest.mark.slow
def test_a_live_assistant_keeps_answering_during_a_rebuild(settings: Settings, tmp_path: Path) -> None:
    """A real build in another process; every answer meanwhile is whole and right, then the switch happens."""
    from assistant.live import LiveAssistant

    copied = _copy_index(settings, tmp_path)
    live = LiveAssistant(copied)
    expected = live.answer(["What did the KATE2 trial find?"]).text
    old = live.current()
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(copied.index_dir)}
    build = subprocess.Popen([sys.executable, "-m", "assistant.cli", "index", "build", "--force"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    answered = 0
    deadline = time.monotonic() + 300
    while build.poll() is None and time.monotonic() < deadline:
        assert live.answer(["What did the KATE2 trial find?"]).text == expected
        answered += 1
        time.sleep(0.05)  # a request every 50 ms, leaving the build its share of the two cores
    assert build.wait(timeout=60) == 0, build.stderr.read().decode(errors="replace") if build.stderr else ""
    print(f"{answered} answers during the rebuild")
    assert answered > 10
    assert live.current() is not old
    assert live.current().index.build == _current(copied)
    assert live.answer(["What did the KATE2 trial find?"]).text == expected
