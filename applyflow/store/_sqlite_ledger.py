"""The money side of ``SQLiteStore``: usage ledger, spend sums, budget, alerts, breakers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from applyflow import periods
from applyflow.errors import BudgetExceeded, ScopeOverrun, StoreError
from applyflow.models import (
    Alert,
    BreakerState,
    ScopeCounters,
    SpendBucket,
    SpendGroup,
    UsageRecord,
)
from applyflow.store._sqlite_db import (
    Database,
    from_nanos,
    from_us,
    opt_us,
    seconds_us,
    to_nanos,
    to_us,
)
from applyflow.store.base import SpendField

_SPEND_COLUMNS = ("provider", "model", "layer", "job_id", "run_id")
_SUMS = "count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)"
_COST = "coalesce(sum(cost), 0)"
# Bucket bounds arrive as one JSON parameter: any number of buckets, one query over an index.
BUCKETS_CTE = (
    "WITH b(lo, hi) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
    "FROM json_each(?))"
)
_FOREVER_AGO = -(2**62)


def next_local_midnight(start: datetime, tz: ZoneInfo, days: int) -> datetime:
    """Local midnight ``days`` calendar days after ``start``'s local day (DST-aware), as UTC."""
    day = start.astimezone(tz).date() + timedelta(days=days)
    return periods.local_midnight(datetime(day.year, day.month, day.day, 12, tzinfo=tz), tz)


def _group(row: sqlite3.Row) -> SpendGroup:
    return SpendGroup(
        key=row[0], calls=row[1], input_tokens=row[2], output_tokens=row[3],
        cost_usd=from_nanos(row[4]),
    )  # fmt: skip


def _insert_usage(conn: sqlite3.Connection, u: UsageRecord) -> bool:
    return bool(
        conn.execute(
            "INSERT INTO usage (call_id, run_id, job_id, layer, provider, model, input_tokens,"
            " output_tokens, cost, estimated, fallback, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO NOTHING",
            (
                u.call_id, u.run_id, u.job_id, u.layer, u.provider, u.model, u.input_tokens,
                u.output_tokens, to_nanos(u.cost_usd), u.estimated, u.fallback, to_us(u.at),
            ),
        ).rowcount
    )  # fmt: skip


def _scope_rows(
    conn: sqlite3.Connection, scopes: Sequence[str], now_us: int
) -> dict[str, tuple[int, int]]:
    """Scope -> (spent, unexpired reserved) in nano-dollars."""
    rows = conn.execute(
        "SELECT s.value, coalesce(b.spent, 0), (SELECT coalesce(sum(r.amount), 0)"
        " FROM reservations r WHERE r.scope = s.value AND r.lease_until >= ?)"
        " FROM json_each(?) s LEFT JOIN budget b ON b.scope = s.value",
        (now_us, json.dumps(list(scopes))),
    )
    return {row[0]: (row[1], row[2]) for row in rows}


class LedgerMixin(Database):
    """Usage, spend, budget reservations, alerts and breaker states."""

    # --- usage ledger ----------------------------------------------------------------------
    def record_usage(self, record: UsageRecord) -> bool:
        with self._tx() as conn:
            return _insert_usage(conn, record)

    def usage_total(
        self,
        *,
        run_id: str | None = None,
        job_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> SpendGroup:
        where, params = ["1"], []
        for clause, value in (
            ("run_id = ?", run_id),
            ("job_id = ?", job_id),
            ("at >= ?", opt_us(since)),
            ("at < ?", opt_us(until)),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT NULL, {_SUMS}, {_COST} FROM usage WHERE {' AND '.join(where)}"
        return _group(self._all(sql, params)[0])

    def spend_by(
        self, field: SpendField, *, since: datetime | None = None, limit: int | None = None
    ) -> list[SpendGroup]:
        if field not in _SPEND_COLUMNS:
            raise ValueError(f"cannot group spend by {field!r}; use one of {list(_SPEND_COLUMNS)}")
        rows = self._all(
            f"SELECT {field}, {_SUMS}, {_COST} FROM usage WHERE at >= ? GROUP BY {field}"
            f" ORDER BY {_COST} DESC, {field} LIMIT ?",
            (opt_us(since) if since else _FOREVER_AGO, -1 if limit is None else limit),
        )
        return [_group(row) for row in rows]

    def spend_series(
        self, bucket: Literal["hour", "day"], since: datetime, until: datetime, tz: ZoneInfo
    ) -> list[SpendBucket]:
        """Each bucket sums its whole span (a day bucket is the full local day)."""
        if bucket == "hour":
            starts = periods.hour_starts(since, until)
            bounds = [(s, s + timedelta(hours=1)) for s in starts]
        elif bucket == "day":
            starts = periods.day_starts(since, until, tz)
            bounds = [(s, next_local_midnight(s, tz, 1)) for s in starts]
        else:
            raise ValueError(f"spend bucket must be 'hour' or 'day', not {bucket!r}")
        rows = self._all(
            # One index range scan per bucket (usage_at_cost covers it); a join + GROUP BY
            # over a million rows was 25x slower (docs/benchmarks.md).
            f"{BUCKETS_CTE} SELECT b.lo,"
            " (SELECT count(*) FROM usage WHERE at >= b.lo AND at < b.hi),"
            " (SELECT coalesce(sum(cost), 0) FROM usage WHERE at >= b.lo AND at < b.hi)"
            " FROM b ORDER BY b.lo",
            (json.dumps([[to_us(lo), to_us(hi)] for lo, hi in bounds]),),
        )
        return [
            SpendBucket(start=from_us(r[0]), calls=r[1], cost_usd=from_nanos(r[2])) for r in rows
        ]

    # --- budget ----------------------------------------------------------------------------
    def reserve(
        self,
        reservation_id: str,
        caps: dict[str, float | None],
        amount: float,
        now: datetime,
        lease_s: float,
        *,
        enforce: bool = True,
    ) -> None:
        if amount < 0:
            raise ValueError(f"reservation {reservation_id!r}: amount must be >= 0, got {amount}")
        need, now_us = to_nanos(amount), to_us(now)
        with self._tx() as conn:
            conn.execute("DELETE FROM reservations WHERE lease_until < ?", (now_us,))
            taken = conn.execute(
                "SELECT 1 FROM reservations WHERE id = ?"
                " UNION ALL SELECT 1 FROM settlements WHERE reservation_id = ?",
                (reservation_id, reservation_id),
            ).fetchone()
            if taken:
                raise StoreError(f"reservation id {reservation_id!r} is already in use")
            if enforce:
                states = _scope_rows(conn, list(caps), now_us)
                for scope, cap in caps.items():
                    spent, reserved = states[scope]
                    # Integer nano-dollars: the comparison is exact, no float epsilon needed.
                    if cap is not None and spent + reserved + need > to_nanos(cap):
                        raise BudgetExceeded(
                            ScopeOverrun(
                                scope, cap, from_nanos(spent), from_nanos(reserved), amount
                            )
                        )
            lease_until = now_us + seconds_us(lease_s)
            conn.executemany(
                "INSERT INTO reservations (id, scope, amount, lease_until) VALUES (?, ?, ?, ?)",
                [(reservation_id, scope, need, lease_until) for scope in caps],
            )

    def settle(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        actual: float,
        now: datetime,
        usage: UsageRecord | None = None,
    ) -> None:
        if actual < 0:
            raise ValueError(f"reservation {reservation_id!r}: actual must be >= 0, got {actual}")
        with self._tx() as conn:
            first = conn.execute(
                "INSERT INTO settlements (reservation_id, at) VALUES (?, ?)"
                " ON CONFLICT (reservation_id) DO NOTHING",
                (reservation_id, to_us(now)),
            ).rowcount
            if not first:
                return
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation_id,))
            conn.executemany(
                "INSERT INTO budget (scope, spent) VALUES (?, ?)"
                " ON CONFLICT (scope) DO UPDATE SET spent = spent + excluded.spent",
                [(scope, to_nanos(actual)) for scope in dict.fromkeys(scopes)],
            )
            if usage is not None:
                _insert_usage(conn, usage)

    def release(self, reservation_id: str) -> None:
        self._write("DELETE FROM reservations WHERE id = ?", (reservation_id,))

    def expire_reservations(self, now: datetime) -> int:
        now_us = to_us(now)
        with self._tx() as conn:
            count = conn.execute(
                "SELECT count(DISTINCT id) FROM reservations WHERE lease_until < ?", (now_us,)
            ).fetchone()[0]
            conn.execute("DELETE FROM reservations WHERE lease_until < ?", (now_us,))
        return count

    def scope_states(self, scopes: Sequence[str], now: datetime) -> dict[str, ScopeCounters]:
        try:
            rows = _scope_rows(self._conn(), scopes, to_us(now))
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        states = {}
        for scope in scopes:
            spent, reserved = rows.get(scope, (0, 0))
            states[scope] = ScopeCounters(
                scope=scope, spent=from_nanos(spent), reserved=from_nanos(reserved)
            )
        return states

    def open_reservations(self, now: datetime) -> int:
        sql = "SELECT count(DISTINCT id) FROM reservations WHERE lease_until >= ?"
        return self._all(sql, (to_us(now),))[0][0]

    # --- alerts and breakers ---------------------------------------------------------------
    def record_alert(self, alert: Alert, dedup_s: float) -> bool:
        at = to_us(alert.at)
        with self._tx() as conn:
            recent = conn.execute(
                "SELECT 1 FROM alerts WHERE key = ? AND at > ? LIMIT 1",
                (alert.key, at - seconds_us(dedup_s)),
            ).fetchone()
            if recent:
                return False
            conn.execute(
                "INSERT INTO alerts (key, kind, level, message, at) VALUES (?, ?, ?, ?, ?)",
                (alert.key, alert.kind, alert.level, alert.message, at),
            )
            return True

    def list_alerts(self, limit: int = 50, since: datetime | None = None) -> list[Alert]:
        rows = self._all(
            "SELECT * FROM alerts WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?",
            (opt_us(since) if since else _FOREVER_AGO, limit),
        )
        return [
            Alert(key=r["key"], kind=r["kind"], level=r["level"], message=r["message"],
                  at=from_us(r["at"]))
            for r in rows
        ]  # fmt: skip

    def save_breaker_state(self, state: BreakerState) -> None:
        self._write(
            "INSERT OR REPLACE INTO breakers (provider, state, fail_count, opened_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (state.provider, state.state, state.fail_count, opt_us(state.opened_at),
             to_us(state.updated_at)),
        )  # fmt: skip

    def breaker_states(self) -> list[BreakerState]:
        return [
            BreakerState(provider=r["provider"], state=r["state"], fail_count=r["fail_count"],
                         opened_at=from_us(r["opened_at"]), updated_at=from_us(r["updated_at"]))
            for r in self._all("SELECT * FROM breakers ORDER BY provider")
        ]  # fmt: skip
