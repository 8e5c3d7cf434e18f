"""Domain rules: status transitions, the applied_at stamp, fingerprints, funnel, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from applyflow.errors import InvalidTransition
from applyflow.models import (
    JobPosting,
    Status,
    applied_at_after,
    check_transition,
    fingerprint,
    parse_status,
)
from applyflow.periods import budget_scopes, local_midnight, week_starts
from applyflow.stats import funnel

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


def test_user_can_walk_the_happy_path() -> None:
    path = [
        Status.NEW,
        Status.PROCESSING,
        Status.READY,
        Status.APPLIED,
        Status.INTERVIEW,
        Status.OFFER,
    ]
    for current, target in zip(path, path[1:], strict=False):
        check_transition("j1", current, target)


@pytest.mark.parametrize(
    "path",
    [
        # a job below the minimum fit; the user applies anyway, or requeues it
        [Status.PROCESSING, Status.SKIPPED, Status.APPLIED],
        [Status.PROCESSING, Status.SKIPPED, Status.NEW],
        # unsupported claims: the user reads and approves, or the job is regenerated
        [Status.PROCESSING, Status.NEEDS_REVIEW, Status.READY],
        [Status.PROCESSING, Status.NEEDS_REVIEW, Status.PROCESSING],
    ],
)
def test_skipped_and_needs_review_jobs_can_be_approved_applied_or_requeued(
    path: list[Status],
) -> None:
    for current, target in zip(path, path[1:], strict=False):
        check_transition("j1", current, target)


@pytest.mark.parametrize(
    "current,target",
    [
        (Status.SKIPPED, Status.READY),
        (Status.NEW, Status.NEEDS_REVIEW),
        (Status.OFFER, Status.NEW),
        (Status.APPLIED, Status.PROCESSING),
        (Status.NEW, Status.OFFER),
    ],
)
def test_invalid_transitions_name_the_allowed_ones(current: Status, target: Status) -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition("j1", current, target)
    message = str(info.value)
    assert f"from {current.value!r} to {target.value!r}" in message
    assert "allowed from" in message


def test_applied_stamps_now_and_keeps_an_existing_stamp() -> None:
    assert applied_at_after(Status.READY, Status.APPLIED, None, NOW) == NOW
    earlier = NOW - timedelta(days=3)
    assert applied_at_after(Status.REJECTED, Status.APPLIED, earlier, NOW) == earlier


@pytest.mark.parametrize("target", [Status.INTERVIEW, Status.OFFER, Status.REJECTED])
def test_application_statuses_keep_the_stamp(target: Status) -> None:
    stamp = NOW - timedelta(days=1)
    assert applied_at_after(Status.APPLIED, target, stamp, NOW) == stamp


@pytest.mark.parametrize("target", [Status.DISCARDED, Status.READY])
def test_other_statuses_clear_the_stamp(target: Status) -> None:
    assert applied_at_after(Status.APPLIED, target, NOW, NOW) is None


def test_parse_status_lists_choices() -> None:
    assert parse_status(" Applied ") is Status.APPLIED
    with pytest.raises(ValueError, match="valid statuses: new, processing"):
        parse_status("hired")


def test_fingerprint_prefers_external_id_then_normalised_fields() -> None:
    a = fingerprint("greenhouse", "123", "Acme", "Engineer", "Berlin")
    assert a == fingerprint("Greenhouse", "123", "Other", "Other", None)
    b = fingerprint("file", None, "ACME  Inc.", "Senior Engineer", "Berlin")
    assert b == fingerprint("csv", None, "acme inc", "senior   engineer", "berlin")
    assert b != fingerprint("file", None, "Acme Inc", "Staff Engineer", "Berlin")


def test_posting_content_hash_changes_with_description() -> None:
    p = JobPosting(source="f", title="T", company="C", description="one")
    q = p.model_copy(update={"description": "two"})
    assert p.id == q.id and p.content_hash() != q.content_hash()


def test_local_midnight_in_another_zone() -> None:
    la = ZoneInfo("America/Los_Angeles")
    # 2026-11-28 03:00 UTC is 2026-11-27 19:00 in Los Angeles (PST, UTC-8).
    now = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    assert local_midnight(now, la) == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert local_midnight(now, ZoneInfo("UTC")) == datetime(2026, 11, 28, tzinfo=UTC)


def test_week_starts_are_local_mondays() -> None:
    starts = week_starts(NOW, ZoneInfo("UTC"), 12)
    assert len(starts) == 12
    assert starts[-1] == datetime(2026, 11, 23, tzinfo=UTC)  # Monday of NOW's week
    assert all(s.weekday() == 0 for s in starts)
    assert starts[0] == starts[-1] - timedelta(weeks=11)


def test_budget_scope_keys_follow_the_local_calendar() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    keys = budget_scopes(datetime(2026, 11, 30, 16, 0, tzinfo=UTC), tokyo, run_id="r1", job_id="j1")
    assert keys == {
        "total": "total",
        "month": "month:2026-12",
        "day": "day:2026-12-01",
        "run": "run:r1",
        "job": "job:j1",
    }


def test_funnel_only_narrows() -> None:
    reached = {"new": 5, "ready": 4, "applied": 3, "interview": 2, "offer": 1}
    counts = {s.value: 0 for s in Status} | reached | {"rejected": 2, "discarded": 1}
    f = funnel(counts)
    assert f["ingested"] == 18
    assert f["processed"] == 12
    assert f["ready"] == 12
    assert f["applied"] == 8
    assert f["interview"] == 3
    assert f["offer"] == 1
    assert (f["rejected"], f["discarded"]) == (2, 1)
