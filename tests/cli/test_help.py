"""--help of every command: no `<bool>` beside a flag; `mark` says what `new` does; `jobs`
with filters that match nothing says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from applyflow.cli import app


def _paths(command: Any, prefix: list[str]) -> list[list[str]]:
    paths = [prefix]
    if hasattr(command, "commands"):  # a group (Typer's own click copy, not `click.Group`)
        for name, sub in command.commands.items():
            paths += _paths(sub, [*prefix, name])
    return paths


def test_no_help_shows_a_type_beside_a_flag():
    root = typer.main.get_command(app)
    paths = _paths(root, [])
    assert ["profile", "check"] in paths and ["run"] in paths
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "--help" in result.output
        assert "<bool>" not in result.output, path
    run_help = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "--dry-run" in run_help and "<int range>" in run_help  # options keep their types


def test_mark_help_says_new_requeues_a_job():
    shown = CliRunner().invoke(app, ["mark", "--help"], env={"COLUMNS": "200"}).output
    assert "`new` requeues a job" in " ".join(shown.split())


def test_jobs_with_filters_that_match_nothing_says_no_job_matches(cli_env: Path):
    from tests.cli.test_core_commands import _seed

    empty = CliRunner().invoke(app, ["jobs", "--status", "failed"])
    assert empty.exit_code == 0 and "No job matches" in empty.output
    _seed(2)
    none_failed = CliRunner().invoke(app, ["jobs", "--status", "failed"])
    assert "No job matches" in none_failed.output and "No jobs yet" not in none_failed.output
    assert "No job matches" in CliRunner().invoke(app, ["jobs", "-q", "zzzz-nothing"]).output
    listed = CliRunner().invoke(app, ["jobs"])
    assert "2 job(s)" in listed.output
