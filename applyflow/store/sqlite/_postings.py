"""Postings into the SQLite store: a new job, another source of a known job, or a changed
posting (requeued or noted), each in the caller's ``BEGIN IMMEDIATE`` transaction; and the
status history rows every status change appends."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from applyflow.models import JobPosting, Status, StatusChange
from applyflow.store.jobs import PostingKeys, Upserted, on_posting_change
from applyflow.store.sqlite._db import opt_us, to_us

# Posting fields a job takes from its latest posting (``source``/``external_id`` stay the first).
CONTENT_COLUMNS = (
    "url", "apply_url", "title", "company", "location", "description", "posted_at",
    "remote_policy", "compensation",
)  # fmt: skip
_MATCH = (
    "SELECT id FROM jobs WHERE match_key = ? AND NOT EXISTS (SELECT 1 FROM job_sources s"
    " WHERE s.job_id = jobs.id AND s.source = ?) ORDER BY ingested_at, id LIMIT 1"
)


_ADD_HISTORY = (
    "INSERT INTO job_history (job_id, at, recorded_at, status, previous, note)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def add_history(conn: sqlite3.Connection, job_id: str, change: StatusChange) -> None:
    conn.execute(
        _ADD_HISTORY,
        (
            job_id,
            to_us(change.at),
            to_us(change.recorded_at),
            change.status.value,
            change.previous.value if change.previous else None,
            change.note,
        ),
    )


def _content(posting: JobPosting) -> list[object]:
    values = [getattr(posting, c) for c in CONTENT_COLUMNS]
    values[CONTENT_COLUMNS.index("posted_at")] = opt_us(posting.posted_at)
    policy = CONTENT_COLUMNS.index("remote_policy")
    values[policy] = posting.remote_policy.value if posting.remote_policy else None
    return values


_JOB_COLUMNS = ("id", "source", "external_id", *CONTENT_COLUMNS, "content_hash", "match_key",
                "ingested_at", "updated_at", "status_changed_at")  # fmt: skip
_INSERT_JOB = (
    f"INSERT INTO jobs ({', '.join(_JOB_COLUMNS)}, status) VALUES"
    f" ({', '.join('?' * len(_JOB_COLUMNS))}, 'new') ON CONFLICT (id) DO NOTHING"
)


def _add_source(
    conn: sqlite3.Connection, job_id: str, posting: JobPosting, keys: PostingKeys, now_us: int
) -> None:
    conn.execute(
        "INSERT INTO job_sources (posting_id, source, job_id, external_id, url, apply_url,"
        " content_hash, first_seen, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (keys.id, posting.source, job_id, posting.external_id, posting.url,
         posting.apply_url, keys.content_hash, now_us, now_us),
    )  # fmt: skip


def _insert(
    conn: sqlite3.Connection, posting: JobPosting, keys: PostingKeys, now: datetime
) -> bool:
    now_us = to_us(now)
    values = (keys.id, posting.source, posting.external_id, *_content(posting),
              keys.content_hash, keys.match_key, now_us, now_us, now_us)  # fmt: skip
    inserted = conn.execute(_INSERT_JOB, values).rowcount
    if inserted:
        _add_source(conn, keys.id, posting, keys, now_us)
        # The first history entry (written as a row: a model per new job costs more than the row).
        found = (keys.id, now_us, now_us, Status.NEW.value, None, f"found on {posting.source}")
        conn.execute(_ADD_HISTORY, found)
    return bool(inserted)


def _change(
    conn: sqlite3.Connection, job_id: str, posting: JobPosting, keys: PostingKeys, now: datetime
) -> Upserted:
    """The posting of ``job_id`` on this source changed: new content, and maybe the queue."""
    now_us = to_us(now)
    current = Status(conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])
    conn.execute(
        "UPDATE job_sources SET external_id = ?, url = ?, apply_url = ?, content_hash = ?,"
        " changed_at = ? WHERE posting_id = ? AND source = ?",
        (posting.external_id, posting.url, posting.apply_url, keys.content_hash, now_us, keys.id,
         posting.source),
    )  # fmt: skip
    conn.execute(
        f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in CONTENT_COLUMNS)}, content_hash = ?,"
        " match_key = ?, updated_at = ? WHERE id = ?",
        (*_content(posting), keys.content_hash, keys.match_key, now_us, job_id),
    )
    outcome, status, note = on_posting_change(current, posting.source)
    if status != current:
        # Back to the queue: a worker still holding it loses the claim (its release fails).
        conn.execute(
            "UPDATE jobs SET status = ?, error = NULL, claimed_by = NULL, lease_until = NULL,"
            " status_changed_at = ? WHERE id = ?",
            (status.value, now_us, job_id),
        )
    if note:
        change = StatusChange(at=now, recorded_at=now, status=status, previous=current, note=note)
        add_history(conn, job_id, change)
    return Upserted(outcome, job_id)


def upsert_posting(conn: sqlite3.Connection, posting: JobPosting, now: datetime) -> Upserted:
    """``JobStore.upsert_posting`` inside the caller's transaction."""
    keys = PostingKeys.of(posting)
    # Every stored row of this fingerprint: this source's, or another file's (id-less postings).
    rows = conn.execute(
        "SELECT job_id, source, content_hash FROM job_sources WHERE posting_id = ?", (keys.id,)
    ).fetchall()
    known = next((r for r in rows if r["source"] == posting.source), None)
    if known is not None:
        if known["content_hash"] == keys.content_hash:
            return Upserted("unchanged", known["job_id"])
        return _change(conn, known["job_id"], posting, keys, now)
    same = rows[0] if rows else conn.execute(_MATCH, (keys.match_key, posting.source)).fetchone()
    if same is None:
        if _insert(conn, posting, keys, now):
            return Upserted("inserted", keys.id)
        same = (keys.id,)  # a job row with this id but no source row: adopt it
    _add_source(conn, same[0], posting, keys, to_us(now))
    return Upserted("linked", same[0])
