"""`applyflow dashboard`: refuses a public bind without a password, else serves with Streamlit."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from applyflow.cli import app, ops
from applyflow.settings import get_settings


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


class Exec(Exception):
    """Raised instead of replacing the test process with Streamlit."""


@pytest.fixture
def exec_argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Capture the command `os.execv` would run (the real run is the browser test's)."""
    seen: list[list[str]] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        seen.append(argv)
        raise Exec

    monkeypatch.setattr(os, "execv", fake_execv)
    return seen


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "dashboard.example"])
def test_public_bind_without_password_is_refused(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, exec_argv: list[list[str]], host: str
) -> None:
    monkeypatch.setenv("APPLYFLOW_DASHBOARD_HOST", host)
    result = cli.invoke(app, ["dashboard"])
    assert result.exit_code == 2
    assert f"refusing to serve the dashboard on {host}" in result.output
    assert "APPLYFLOW_DASHBOARD_PASSWORD" in result.output
    assert exec_argv == []


def test_public_bind_with_password_serves_and_never_prints_it(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, exec_argv: list[list[str]]
) -> None:
    monkeypatch.setenv("APPLYFLOW_DASHBOARD_PASSWORD", "s3cret-pass")
    result = cli.invoke(app, ["dashboard", "--host", "0.0.0.0", "--port", "9123"])
    assert isinstance(result.exception, Exec)
    (argv,) = exec_argv
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert Path(argv[4]) == ops.DASHBOARD_APP and ops.DASHBOARD_APP.is_file()
    assert argv[argv.index("--server.address") + 1] == "0.0.0.0"
    assert argv[argv.index("--server.port") + 1] == "9123"
    assert "s3cret-pass" not in result.output and all("s3cret" not in a for a in argv)


def test_default_bind_is_loopback_from_settings(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, exec_argv: list[list[str]]
) -> None:
    monkeypatch.setenv("APPLYFLOW_DASHBOARD_PORT", "8765")
    cli.invoke(app, ["dashboard"])
    (argv,) = exec_argv
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.port") + 1] == "8765"
    assert argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
    # Viewer mode: no Deploy button or developer menu (test_browser.py checks the page).
    assert argv[argv.index("--client.toolbarMode") + 1] == "viewer"


def test_repository_config_serves_streamlit_run_the_same_way() -> None:
    """`streamlit run dashboard/app.py` from the repository root reads .streamlit/config.toml."""
    root = Path(ops.DASHBOARD_APP).parents[1]
    config = tomllib.loads((root / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["browser"]["gatherUsageStats"] is False


def test_invalid_settings_exit_2(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLYFLOW_DASHBOARD_PORT", "99999")
    result = cli.invoke(app, ["dashboard"])
    assert result.exit_code == 2
    assert "APPLYFLOW_DASHBOARD_PORT" in result.output
