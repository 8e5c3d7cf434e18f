"""`applyflow mark --at/--note`, the status history in `jobs --json`, and `applyflow followups`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.models import JobPosting
from applyflow.settings import get_settings, load_settings
from applyflow.store import open_store


def _seed(*titles: str) -> list[str]:
    store = open_store(load_settings())
    try:
        ids = []
        for i, title in enumerate(titles):
            posting = JobPosting(
                source="greenhouse:acme",
                external_id=str(i),
                url=f"https://boards.greenhouse.io/acme/jobs/{i}",
                apply_url=f"https://boards.greenhouse.io/acme/jobs/{i}#app" if i else None,
                title=title,
                company="Acme",
                description="Build things.",
            )
            ids.append(store.upsert_posting(posting, datetime.now(UTC)).job_id)
        return ids
    finally:
        store.close()


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def test_a_backdated_note_is_kept_in_the_history(runner: CliRunner, cli_env) -> None:
    [job_id] = _seed("Analyst")
    sent = _days_ago(12)
    result = runner.invoke(
        app, ["mark", job_id, "applied", "--at", sent, "--note", "sent by email\x1b[2J", "--json"]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["applied_at"] == f"{sent}T00:00:00+00:00"  # local midnight (UTC here)
    [listed] = json.loads(runner.invoke(app, ["jobs", "--json"]).stdout)
    found, applied = listed["history"]
    assert (found["status"], found["note"]) == ("new", "found on greenhouse:acme")
    assert (applied["previous"], applied["status"]) == ("new", "applied")
    assert applied["note"] == "sent by email[2J"  # no escape sequences reach a terminal
    assert applied["at"] == f"{sent}T00:00:00Z" and applied["recorded_at"] > applied["at"]
    assert [s["source"] for s in listed["sources"]] == ["greenhouse:acme"]


def test_at_takes_the_configured_time_zone(runner: CliRunner, cli_env, monkeypatch) -> None:
    monkeypatch.setenv("APPLYFLOW_TIMEZONE", "Europe/Berlin")
    get_settings.cache_clear()
    [job_id] = _seed("Analyst")
    result = runner.invoke(app, ["mark", job_id, "applied", "--at", "2026-01-15 09:30", "--json"])
    assert json.loads(result.stdout)["applied_at"] == "2026-01-15T08:30:00+00:00"


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("next tuesday", "--at 'next tuesday' is not a date: use YYYY-MM-DD"),
        ("2999-01-01", "is in the future"),
    ],
)
def test_bad_dates_are_one_clear_line(runner: CliRunner, cli_env, at: str, message: str) -> None:
    [job_id] = _seed("Analyst")
    result = runner.invoke(app, ["mark", job_id, "applied", "--at", at])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    listed = json.loads(runner.invoke(app, ["jobs", "--json"]).stdout)
    assert listed[0]["status"] == "new"


def test_an_interview_before_the_application_is_refused(runner: CliRunner, cli_env) -> None:
    [job_id] = _seed("Analyst")
    runner.invoke(app, ["mark", job_id, "applied", "--at", _days_ago(5)])
    result = runner.invoke(app, ["mark", job_id, "interview", "--at", _days_ago(6)])
    assert result.exit_code == 1 and "before the application" in result.output


def test_a_long_note_is_refused(runner: CliRunner, cli_env) -> None:
    [job_id] = _seed("Analyst")
    result = runner.invoke(app, ["mark", job_id, "applied", "--note", "x" * 501])
    assert result.exit_code == 1 and "keep it to 500" in result.output


def test_followups_list_quiet_applications_oldest_first(runner: CliRunner, cli_env, monkeypatch):
    old, older, recent, _ = _seed("Old", "Older", "Recent", "Never sent")
    for job_id, days in ((old, 8), (older, 15), (recent, 2)):
        assert (
            runner.invoke(app, ["mark", job_id, "applied", "--at", _days_ago(days)]).exit_code == 0
        )

    due = json.loads(runner.invoke(app, ["followups", "--json"]).stdout)
    assert [d["title"] for d in due] == ["Older", "Old"]  # default 7 days
    first = due[0]
    assert (first["company"], first["status"], first["quiet_days"]) == ("Acme", "applied", 15)
    assert first["applied_at"].startswith(_days_ago(15))
    assert first["apply_url"] == "https://boards.greenhouse.io/acme/jobs/1#app"
    assert due[1]["apply_url"] == "https://boards.greenhouse.io/acme/jobs/0"  # no form: the page

    quick = json.loads(runner.invoke(app, ["followups", "--days", "1", "--json"]).stdout)
    assert [d["title"] for d in quick] == ["Older", "Old", "Recent"]
    monkeypatch.setenv("APPLYFLOW_FOLLOWUP_DAYS", "10")
    get_settings.cache_clear()
    assert [d["title"] for d in json.loads(runner.invoke(app, ["followups", "--json"]).stdout)] == [
        "Older"
    ]
    table = runner.invoke(app, ["followups"])
    assert table.exit_code == 0 and "Older" in table.output and "15 d" in table.output


def test_no_followups_says_so(runner: CliRunner, cli_env) -> None:
    _seed("Analyst")
    result = runner.invoke(app, ["followups"])
    assert result.exit_code == 0 and "No applications without news for 7 days" in result.output
    assert json.loads(runner.invoke(app, ["followups", "--json"]).stdout) == []
