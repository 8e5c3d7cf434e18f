"""Jobs in the SQLite store: postings in (``_postings``), claims under ``BEGIN IMMEDIATE``, layer
outputs (table ``job_outputs``), sources (``job_sources``) and validated status changes with
their history (``job_history``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from applyflow.errors import JobNotFound
from applyflow.models import (
    FOLLOWUP_STATUSES,
    Job,
    JobPosting,
    JobSource,
    LayerOutput,
    Status,
    StatusChange,
    UpsertReport,
    applied_at_after,
    check_transition,
)
from applyflow.money import from_nanos, to_nanos
from applyflow.store.jobs import (
    HELD_STATUSES,
    JobStore,
    Upserted,
    check_change_at,
    check_note,
    check_search_text,
    tally,
)
from applyflow.store.sqlite._db import Database, from_us, opt_us, seconds_us, to_us
from applyflow.store.sqlite._postings import add_history, upsert_posting

_IN_IDS = "job_id IN (SELECT value FROM json_each(?)) ORDER BY rowid"
_HELD = json.dumps(sorted(s.value for s in HELD_STATUSES))
_IS_HELD = "status IN (SELECT value FROM json_each(?))"


class SQLiteJobs(Database, JobStore):
    """``JobStore`` on SQLite."""

    def upsert_posting(self, posting: JobPosting, now: datetime) -> Upserted:
        with self._tx() as conn:
            return upsert_posting(conn, posting, now)

    def upsert_jobs(self, postings: Iterable[JobPosting], now: datetime) -> UpsertReport:
        """Upsert many postings in one transaction; counts per outcome."""
        report = UpsertReport()
        with self._tx() as conn:
            for posting in postings:
                tally(report, upsert_posting(conn, posting, now))
        return report

    def copy_in(self, jobs: Iterable[Job]) -> None:
        """Insert whole jobs as they are (fields, status, claim, outputs; not their sources or
        history): a dry run's scratch copy of the jobs it forecasts. Ids must be new here."""
        with self._tx() as conn:
            for job in jobs:
                conn.execute(_COPY_JOB, _row_of(job))
                conn.executemany(
                    "INSERT INTO job_outputs (job_id, layer, data) VALUES (?, ?, ?)",
                    [(job.id, layer, out.model_dump_json()) for layer, out in job.outputs.items()],
                )

    def _jobs(self, conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Job]:
        ids = json.dumps([row["id"] for row in rows])
        outputs: dict[str, dict[str, LayerOutput]] = {row["id"]: {} for row in rows}
        sources: dict[str, list[JobSource]] = {row["id"]: [] for row in rows}
        history: dict[str, list[StatusChange]] = {row["id"]: [] for row in rows}
        for out in conn.execute(
            f"SELECT job_id, layer, data FROM job_outputs WHERE {_IN_IDS}", (ids,)
        ):
            outputs[out["job_id"]][out["layer"]] = LayerOutput.model_validate_json(out["data"])
        for src in conn.execute(f"SELECT * FROM job_sources WHERE {_IN_IDS}", (ids,)):
            sources[src["job_id"]].append(_source(src))
        for entry in conn.execute(f"SELECT * FROM job_history WHERE {_IN_IDS}", (ids,)):
            history[entry["job_id"]].append(_change(entry))
        return [_job(r, outputs[r["id"]], sources[r["id"]], history[r["id"]]) for r in rows]

    def _select_jobs(self, sql: str, params: Sequence[Any] = ()) -> list[Job]:
        with self._snapshot() as conn:
            return self._jobs(conn, conn.execute(sql, params).fetchall())

    def get_job(self, job_id: str) -> Job:
        found = self._select_jobs("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not found:
            raise JobNotFound(job_id)
        return found[0]

    def list_jobs(
        self,
        *,
        status: Status | Sequence[Status] | None = None,
        company: str | None = None,
        min_fit: int | None = None,
        text: str | None = None,
        limit: int = 500,
    ) -> list[Job]:
        check_search_text("company", company)
        check_search_text("text", text)
        where, params = [], []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append("status IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([Status(s).value for s in statuses]))
        if company:
            # instr() on case-folded text: a literal substring, never a pattern.
            where.append("instr(casefold(company), ?) > 0")
            params.append(company.casefold())
        if min_fit is not None:
            where.append("fit >= ?")
            params.append(min_fit)
        if text:
            where.append(
                "(instr(casefold(title), ?) > 0 OR instr(casefold(company), ?) > 0"
                " OR instr(casefold(description), ?) > 0)"
            )
            params += [text.casefold()] * 3
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._select_jobs(
            f"SELECT * FROM jobs {clause} ORDER BY updated_at DESC, id LIMIT ?", (*params, limit)
        )

    def claim_jobs(
        self,
        n: int,
        worker: str,
        lease_s: float,
        now: datetime,
        *,
        run_id: str | None = None,
        job_ids: Sequence[str] | None = None,
        statuses: Sequence[Status] = (Status.NEW,),
    ) -> list[Job]:
        if n <= 0:
            return []
        now_us = to_us(now)
        only = "AND id IN (SELECT value FROM json_each(?))" if job_ids is not None else ""
        # A held status is taken only from no live claim, and kept (see HELD_STATUSES).
        params: list[Any] = [json.dumps([Status(s).value for s in statuses]), _HELD, now_us]
        params.append(now_us)
        if job_ids is not None:
            params.append(json.dumps(list(job_ids)))
        with self._tx() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM jobs WHERE ((status IN (SELECT value FROM json_each(?))"
                    f" AND (NOT ({_IS_HELD}) OR claimed_by IS NULL OR lease_until < ?))"
                    f" OR (status = 'processing' AND lease_until < ?)) {only}"
                    " ORDER BY ingested_at, id LIMIT ?",
                    (*params, n),
                )
            ]
            conn.executemany(
                f"UPDATE jobs SET status = CASE WHEN {_IS_HELD} THEN status ELSE 'processing'"
                " END, claimed_by = ?, lease_until = ?, run_id = coalesce(?, run_id),"
                " updated_at = ? WHERE id = ?",
                [(_HELD, worker, now_us + seconds_us(lease_s), run_id, now_us, i) for i in ids],
            )
            rows = conn.execute(
                "SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
                " ORDER BY ingested_at, id",
                (json.dumps(ids),),
            ).fetchall()
            return self._jobs(conn, rows)

    def renew_lease(self, job_id: str, worker: str, lease_s: float, now: datetime) -> bool:
        return bool(
            self._write(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND claimed_by = ?"
                f" AND (status = 'processing' OR {_IS_HELD})",
                (to_us(now) + seconds_us(lease_s), job_id, worker, _HELD),
            )
        )

    def list_followups(self, before: datetime, *, limit: int = 100) -> list[Job]:
        return self._select_jobs(
            "SELECT * FROM jobs WHERE status IN (SELECT value FROM json_each(?))"
            " AND status_changed_at <= ? ORDER BY status_changed_at, id LIMIT ?",
            (json.dumps([s.value for s in FOLLOWUP_STATUSES]), to_us(before), limit),
        )

    def release_job(
        self,
        job_id: str,
        worker: str,
        status: Status,
        now: datetime,
        *,
        error: str | None = None,
    ) -> bool:
        target = Status(status)
        if target in HELD_STATUSES:
            return bool(
                self._write(
                    "UPDATE jobs SET claimed_by = NULL, lease_until = NULL, error = ?,"
                    " updated_at = ? WHERE id = ? AND status = ? AND claimed_by = ?",
                    (error, to_us(now), job_id, target.value, worker),
                )
            )
        check_transition(job_id, Status.PROCESSING, target)
        with self._tx() as conn:
            released = conn.execute(
                "UPDATE jobs SET status = ?, claimed_by = NULL, lease_until = NULL, error = ?,"
                " updated_at = ?, status_changed_at = ? WHERE id = ? AND status = 'processing'"
                " AND claimed_by = ?",
                (target.value, error, to_us(now), to_us(now), job_id, worker),
            ).rowcount
            if released:
                change = StatusChange(
                    at=now, recorded_at=now, status=target, previous=Status.PROCESSING
                )
                add_history(conn, job_id, change)
        return bool(released)

    def save_layer_output(
        self, job_id: str, layer: str, output: LayerOutput, *, fit: int | None = None
    ) -> None:
        with self._tx() as conn:
            found = conn.execute(
                "UPDATE jobs SET cost = cost + ?, fit = coalesce(?, fit) WHERE id = ?",
                (to_nanos(output.cost_usd), fit, job_id),
            ).rowcount
            if not found:
                raise JobNotFound(job_id)
            # DO UPDATE keeps the rowid, so outputs read back in first-written order.
            conn.execute(
                "INSERT INTO job_outputs (job_id, layer, data) VALUES (?, ?, ?)"
                " ON CONFLICT (job_id, layer) DO UPDATE SET data = excluded.data",
                (job_id, layer, output.model_dump_json()),
            )

    def set_status(
        self,
        job_id: str,
        status: Status,
        now: datetime,
        *,
        error: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> Job:
        target = Status(status)
        check_note(note)
        with self._tx() as conn:
            row = conn.execute(
                "SELECT status, applied_at FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            current, applied_at = Status(row["status"]), from_us(row["applied_at"])
            check_transition(job_id, current, target)
            when = now if at is None else at
            if at is not None:
                check_change_at(job_id, target, at, now, applied_at)
            applied = applied_at_after(current, target, applied_at, when, backdated=at is not None)
            # Leaving `processing` ends the claim: the worker's release then returns False.
            keep_claim = target == Status.PROCESSING
            changed = target != current or note is not None or at is not None
            conn.execute(
                "UPDATE jobs SET status = ?, applied_at = ?, error = ?, updated_at = ?,"
                " status_changed_at = CASE WHEN ? THEN ? ELSE status_changed_at END,"
                " claimed_by = CASE WHEN ? THEN claimed_by END,"
                " lease_until = CASE WHEN ? THEN lease_until END WHERE id = ?",
                (target.value, opt_us(applied), error, to_us(now), changed, to_us(when),
                 keep_claim, keep_claim, job_id),
            )  # fmt: skip
            if changed:
                entry = StatusChange(
                    at=when, recorded_at=now, status=target, previous=current, note=note
                )
                add_history(conn, job_id, entry)
            rows = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchall()
            return self._jobs(conn, rows)[0]


_COPIED = (
    "id", "source", "external_id", "url", "title", "company", "location", "description",
    "content_hash", "posted_at", "ingested_at", "updated_at", "status", "applied_at", "fit",
    "cost", "error", "claimed_by", "lease_until", "run_id", "remote_policy", "compensation",
    "apply_url", "match_key", "status_changed_at",
)  # fmt: skip
_COPY_JOB = f"INSERT INTO jobs ({', '.join(_COPIED)}) VALUES ({', '.join('?' * len(_COPIED))})"


def _row_of(job: Job) -> tuple[Any, ...]:
    return (
        job.id, job.source, job.external_id, job.url, job.title, job.company, job.location,
        job.description, job.content_hash, opt_us(job.posted_at), to_us(job.ingested_at),
        to_us(job.updated_at), job.status.value, opt_us(job.applied_at), job.fit,
        to_nanos(job.cost_usd), job.error, job.claimed_by, opt_us(job.lease_until), job.run_id,
        job.remote_policy.value if job.remote_policy else None, job.compensation, job.apply_url,
        job.match_key, opt_us(job.status_changed_at),
    )  # fmt: skip


def _source(row: sqlite3.Row) -> JobSource:
    return JobSource(
        source=row["source"], posting_id=row["posting_id"], external_id=row["external_id"],
        url=row["url"], apply_url=row["apply_url"], content_hash=row["content_hash"],
        first_seen=from_us(row["first_seen"]), changed_at=from_us(row["changed_at"]),
    )  # fmt: skip


def _change(row: sqlite3.Row) -> StatusChange:
    return StatusChange(
        at=from_us(row["at"]), recorded_at=from_us(row["recorded_at"]), status=row["status"],
        previous=row["previous"], note=row["note"],
    )  # fmt: skip


def _job(
    row: sqlite3.Row,
    outputs: dict[str, LayerOutput],
    sources: list[JobSource],
    history: list[StatusChange],
) -> Job:
    return Job(
        id=row["id"], source=row["source"], external_id=row["external_id"], url=row["url"],
        title=row["title"], company=row["company"], location=row["location"],
        description=row["description"], content_hash=row["content_hash"],
        posted_at=from_us(row["posted_at"]), ingested_at=from_us(row["ingested_at"]),
        updated_at=from_us(row["updated_at"]), status=row["status"],
        applied_at=from_us(row["applied_at"]), outputs=outputs, fit=row["fit"],
        cost_usd=from_nanos(row["cost"]), error=row["error"], claimed_by=row["claimed_by"],
        lease_until=from_us(row["lease_until"]), run_id=row["run_id"],
        remote_policy=row["remote_policy"], compensation=row["compensation"],
        apply_url=row["apply_url"], match_key=row["match_key"], sources=sources,
        history=history, status_changed_at=from_us(row["status_changed_at"]),
    )  # fmt: skip
