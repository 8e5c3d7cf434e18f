"""Runs and progress in the SQLite store: a run is its JSON in ``runs``; progress one row per
(run, job, layer)."""

from __future__ import annotations

from datetime import datetime

from applyflow.models import LayerStats, ProgressRecord, Run, RunStatus, RunWait
from applyflow.money import from_nanos, to_nanos
from applyflow.store.runs import RunStore, collect_layer_stats
from applyflow.store.sqlite._db import Database, from_us, opt_us, to_us

_RUNNING = "SELECT data FROM runs WHERE id = ? AND json_extract(data, '$.status') = 'running'"


class SQLiteRuns(Database, RunStore):
    """``RunStore`` on SQLite."""

    def save_run(self, run: Run) -> None:
        self._write(
            "INSERT INTO runs (id, started_at, data) VALUES (?, ?, ?) ON CONFLICT (id)"
            " DO UPDATE SET started_at = excluded.started_at, data = excluded.data",
            (run.id, to_us(run.started_at), run.model_dump_json()),
        )

    def get_run(self, run_id: str) -> Run | None:
        rows = self._all("SELECT data FROM runs WHERE id = ?", (run_id,))
        return Run.model_validate_json(rows[0][0]) if rows else None

    def list_runs(self, limit: int = 20) -> list[Run]:
        rows = self._all("SELECT data FROM runs ORDER BY started_at DESC, id LIMIT ?", (limit,))
        return [Run.model_validate_json(row[0]) for row in rows]

    def touch_run(self, run_id: str, now: datetime) -> bool:
        with self._tx() as conn:
            row = conn.execute(_RUNNING, (run_id,)).fetchone()
            if row is None:
                return False
            run = Run.model_validate_json(row[0]).model_copy(update={"heartbeat_at": now})
            conn.execute("UPDATE runs SET data = ? WHERE id = ?", (run.model_dump_json(), run_id))
            return True

    def set_run_waiting(self, run_id: str, waiting: RunWait | None) -> bool:
        with self._tx() as conn:
            row = conn.execute(_RUNNING, (run_id,)).fetchone()
            if row is None:
                return False
            run = Run.model_validate_json(row[0]).model_copy(update={"waiting": waiting})
            conn.execute("UPDATE runs SET data = ? WHERE id = ?", (run.model_dump_json(), run_id))
            return True

    def crash_stale_runs(self, stale_before: datetime) -> list[str]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT data FROM runs WHERE json_extract(data, '$.status') = ?",
                (RunStatus.RUNNING.value,),
            ).fetchall()
            running = [Run.model_validate_json(row[0]) for row in rows]
            stale = sorted(
                (run for run in running if (run.heartbeat_at or run.started_at) < stale_before),
                key=lambda run: (run.heartbeat_at or run.started_at, run.id),
            )
            for run in stale:
                ended = run.heartbeat_at or run.started_at
                crashed = run.model_copy(update={"status": RunStatus.CRASHED, "ended_at": ended})
                conn.execute(
                    "UPDATE runs SET data = ? WHERE id = ?", (crashed.model_dump_json(), run.id)
                )
        return [run.id for run in stale]

    def record_progress(self, record: ProgressRecord) -> None:
        # An upsert, not INSERT OR REPLACE: the rollup triggers need the row's old values.
        self._write(
            "INSERT INTO progress (run_id, job_id, layer, status, started_at, ended_at,"
            " duration_s, cost, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (run_id, job_id, layer) DO UPDATE SET status = excluded.status,"
            " started_at = excluded.started_at, ended_at = excluded.ended_at,"
            " duration_s = excluded.duration_s, cost = excluded.cost, error = excluded.error,"
            " updated_at = excluded.updated_at",
            (
                record.run_id, record.job_id, record.layer, record.status.value,
                opt_us(record.started_at), opt_us(record.ended_at), record.duration_s,
                to_nanos(record.cost_usd), record.error, to_us(record.updated_at),
            ),
        )  # fmt: skip

    def list_progress(self, run_id: str) -> list[ProgressRecord]:
        rows = self._all(
            "SELECT * FROM progress WHERE run_id = ? ORDER BY job_id, started_at, layer", (run_id,)
        )
        return [
            ProgressRecord(
                run_id=r["run_id"], job_id=r["job_id"], layer=r["layer"], status=r["status"],
                started_at=from_us(r["started_at"]), ended_at=from_us(r["ended_at"]),
                duration_s=r["duration_s"], cost_usd=from_nanos(r["cost"]), error=r["error"],
                updated_at=from_us(r["updated_at"]),
            )
            for r in rows
        ]  # fmt: skip

    def layer_stats(self) -> list[LayerStats]:
        with self._snapshot() as conn:  # durations and failures from one state
            durations = conn.execute("SELECT layer, bucket, count, micros FROM layer_durations")
            rows = [tuple(r) for r in durations]
            failures = conn.execute("SELECT layer, count FROM layer_failures")
            per_layer = {layer: count for layer, count in failures}
        return collect_layer_stats(rows, per_layer)
