"""The index on disk: build, verify, stale detection, the atomic switch and damaged folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.errors import IndexNotReady
from assistant.index import build_index, index_status, open_index, read_manifest, verify_build
from assistant.settings import ROOT, Settings


def _copy_index(settings: Settings, tmp_path: Path) -> Settings:
    """A private copy of the session's index, so a test can damage or rebuild it."""
    target = tmp_path / "index"
    shutil.copytree(settings.index_dir, target, ignore=shutil.ignore_patterns(".lock"))
    return settings.model_copy(update={"index_dir": target})


def test_built_index_is_ready_and_its_manifest_records_what_shaped_it(settings: Settings) -> None:
    status = index_status(settings)
    assert status.health == "ready", status.message
    manifest = status.manifest
    assert manifest is not None
    assert manifest.counts["references"] == 57
    assert manifest.counts["cards"] == 35
    assert manifest.counts["perspectives"] == 15
    assert manifest.inputs.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest.inputs.chunking["max_tokens"] == settings.chunk_max_tokens
    assert "chromadb" in manifest.inputs.libraries
    assert "review.txt" in manifest.inputs.corpus_files
    assert len(manifest.corpus_version) == 16


def test_rebuilding_an_up_to_date_index_changes_nothing(settings: Settings) -> None:
    before = (settings.index_dir / "CURRENT").read_text()
    manifest = build_index(settings)
    assert (settings.index_dir / "CURRENT").read_text() == before
    assert manifest == index_status(settings).manifest


def test_verify_checks_the_build_from_disk(settings: Settings) -> None:
    build = settings.index_dir / "builds" / (settings.index_dir / "CURRENT").read_text().strip()
    manifest = verify_build(build, settings)
    assert manifest.counts["chunks"] > 40


def test_a_changed_corpus_makes_the_index_stale(settings: Settings, corpus_copy: Path, tmp_path: Path) -> None:
    copied = _copy_index(settings, tmp_path).model_copy(update={"corpus_dir": corpus_copy})
    assert index_status(copied).health == "ready"
    card = corpus_copy / "studies" / "nala.yaml"
    card.write_text(card.read_text().replace("HR 0.76, P=.0059", "HR 0.76, P=0.0059"))
    status = index_status(copied)
    assert status.health == "stale"
    assert "studies/nala.yaml" in status.message
    assert "assistant index build" in status.message
    with pytest.raises(IndexNotReady, match="stale"):
        open_index(copied)


def test_a_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    empty = Settings(index_dir=tmp_path / "nothing")
    status = index_status(empty)
    assert status.health == "missing"
    with pytest.raises(IndexNotReady, match="Run: assistant index build"):
        open_index(empty)


def test_a_corrupt_manifest_is_reported_not_raised(settings: Settings, tmp_path: Path) -> None:
    copied = _copy_index(settings, tmp_path)
    build = copied.index_dir / "builds" / (copied.index_dir / "CURRENT").read_text().strip()
    (build / "manifest.json").write_text("{not json")
    status = index_status(copied)
    assert status.health == "broken"
    assert "corrupt" in status.message
    with pytest.raises(IndexNotReady, match="--force"):
        open_index(copied)


def test_missing_vectors_are_reported(settings: Settings, tmp_path: Path) -> None:
    copied = _copy_index(settings, tmp_path)
    build = copied.index_dir / "builds" / (copied.index_dir / "CURRENT").read_text().strip()
    shutil.rmtree(build / "chroma")
    assert index_status(copied).health == "broken"


def test_a_damaged_chunk_file_is_reported(settings: Settings, tmp_path: Path) -> None:
    copied = _copy_index(settings, tmp_path)
    build = copied.index_dir / "builds" / (copied.index_dir / "CURRENT").read_text().strip()
    (build / "chunks.json").write_bytes(b"\x00\xff" * 10)
    with pytest.raises(IndexNotReady, match=r"damaged \(changed since the build: chunks.json\)"):
        open_index(copied)


@pytest.mark.slow
def test_a_build_killed_midway_leaves_the_old_index_serving(settings: Settings, tmp_path: Path) -> None:
    copied = _copy_index(settings, tmp_path)
    current = (copied.index_dir / "CURRENT").read_text()
    builds = copied.index_dir / "builds"
    before = set(builds.iterdir())
    env = {**os.environ, "ASSISTANT_INDEX_DIR": str(copied.index_dir)}
    process = subprocess.Popen([sys.executable, "-m", "assistant.cli", "index", "build", "--force"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and set(builds.iterdir()) == before:
        time.sleep(0.02)
    started = set(builds.iterdir()) - before
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert started, "the build never started"
    partial = started.pop()
    assert not (partial / "manifest.json").exists(), "killed too late: the build had finished"

    assert (copied.index_dir / "CURRENT").read_text() == current
    assert index_status(copied).health == "ready"
    from assistant.retrieve import Retriever

    results = Retriever(open_index(copied), copied).search("DESTINY-Breast03 hazard ratio", 3)
    assert results
    assert results[0].section == "2"

    build_index(copied)  # the next build (even a no-op) clears the unfinished folder
    assert not partial.exists()
    assert (copied.index_dir / "CURRENT").read_text() == current


def test_a_forced_rebuild_switches_and_keeps_the_previous_build(settings: Settings, tmp_path: Path) -> None:
    copied = _copy_index(settings, tmp_path)
    old = (copied.index_dir / "CURRENT").read_text().strip()
    manifest = build_index(copied, force=True, verify=False)
    new = (copied.index_dir / "CURRENT").read_text().strip()
    assert new != old
    assert new.startswith(manifest.corpus_version)
    assert sorted(p.name for p in (copied.index_dir / "builds").iterdir()) == sorted([old, new])
    assert read_manifest(copied.index_dir / "builds" / new).corpus_version == manifest.corpus_version


def test_status_json_from_the_command_line(settings: Settings) -> None:
    from click.testing import CliRunner

    from assistant.cli import cli

    result = CliRunner().invoke(cli, ["index", "status", "--json"],
                                env={"ASSISTANT_INDEX_DIR": str(settings.index_dir)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["health"] == "ready"


def test_vectors_in_memory_rank_as_the_chroma_store_does(index) -> None:  # type: ignore[no-untyped-def]
    """Search reads each collection once and ranks exactly in memory; the order is Chroma's own."""
    vectors = index.chunk_vectors
    assert len(vectors.ids) == len(index.chunks)
    probe = index.embedder.embed_query("oligoprogression on an antibody-drug conjugate: local therapy?")
    stored = [doc.id for doc, _ in index.store.similarity_search_by_vector_with_relevance_scores(probe, k=5)]
    assert [vectors.ids[row] for row, _ in vectors.nearest(probe, 5)] == stored
    kept = vectors.nearest(probe, 3, lambda row: vectors.passage_ids[row] == "review:6.2:p2")
    assert {vectors.passage_ids[row] for row, _ in kept} == {"review:6.2:p2"}
    assert len(index.key_vectors.ids) == len(index.keys)
