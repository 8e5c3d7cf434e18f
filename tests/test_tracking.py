"""The follow-ups function the CLI, the daily report and the dashboard's Overview call."""

from __future__ import annotations

from datetime import timedelta

import pytest

from applyflow.models import Status
from applyflow.store import Store
from applyflow.tracking import followups
from tests.factories import NOW, make_posting


def test_followups_say_how_quiet_and_where_it_was_sent(sqlite_store: Store) -> None:
    posting = make_posting(apply_url="https://jobs.example.com/apply/1")
    sqlite_store.upsert_job(posting, NOW - timedelta(days=30))
    sqlite_store.set_status(posting.id, Status.APPLIED, NOW, at=NOW - timedelta(days=9, hours=5))
    [due] = followups(sqlite_store, NOW, 7)
    assert (due.id, due.status, due.quiet_days) == (posting.id, Status.APPLIED, 9)
    assert due.last_change == due.applied_at == NOW - timedelta(days=9, hours=5)
    assert due.apply_url == "https://jobs.example.com/apply/1"
    assert followups(sqlite_store, NOW, 10) == []


def test_followups_need_at_least_one_day(sqlite_store: Store) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        followups(sqlite_store, NOW, 0)
