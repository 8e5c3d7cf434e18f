"""CLI tests run the Typer app in-process against a temporary SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from applyflow.settings import get_settings

SAMPLE_PROFILE = Path(__file__).resolve().parents[2] / "samples" / "profile.md"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A clean working folder and store for one CLI test, with the sample profile; settings
    re-read each time."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APPLYFLOW_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("APPLYFLOW_PROFILE", str(SAMPLE_PROFILE))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
