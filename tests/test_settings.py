"""Settings: environment beats pyproject beats defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from assistant.settings import ROOT, Settings


def test_defaults_point_into_the_repository() -> None:
    settings = Settings()
    assert settings.corpus_dir == ROOT / "corpus"
    assert settings.index_dir == ROOT / "index"
    assert settings.log_user_text is False


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path))
    monkeypatch.setenv("ASSISTANT_TOP_K", "7")
    settings = Settings()
    assert settings.index_dir == tmp_path
    assert settings.top_k == 7


def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_CHUNK_MAX_TOKENS", "1000")
    with pytest.raises(ValidationError):
        Settings()
