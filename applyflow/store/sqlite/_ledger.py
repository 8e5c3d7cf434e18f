"""The SQLite store's ledger: usage rows, spend sums and series, budget reservations.

Budget: ``budget`` holds each scope's spent nano-dollars; ``reservations`` one row per
(reservation, scope) with its lease; ``settlements`` the settled reservation ids, so a repeated
settle never spends twice. ``reserve`` and ``settle`` each run in one ``BEGIN IMMEDIATE``
transaction (settle writes the usage row in it too), which makes them atomic across processes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from applyflow import periods
from applyflow.errors import BudgetExceeded, ScopeOverrun
from applyflow.models import (
    TOKEN_CLASSES,
    ScopeCounters,
    SpendBucket,
    SpendGroup,
    UsageRecord,
    UsageTotal,
)
from applyflow.money import from_nanos, to_nanos
from applyflow.store.ledger import (
    LedgerStore,
    SpendField,
    check_amount,
    check_spend_field,
    reservation_in_use,
)
from applyflow.store.sqlite._db import (
    BUCKETS_CTE,
    FOREVER_AGO,
    Database,
    from_us,
    opt_us,
    seconds_us,
    to_us,
)

_TOKENS = ("input_tokens", "output_tokens", *TOKEN_CLASSES)
_SUMS = "count(*), " + ", ".join(f"coalesce(sum({name}), 0)" for name in _TOKENS)
_COST = "coalesce(sum(cost), 0)"
_USAGE_COLUMNS = (
    "call_id", "run_id", "job_id", "layer", "provider", "model", *_TOKENS, "cost", "estimated",
    "fallback", "at",
)  # fmt: skip
_INSERT_USAGE = (
    f"INSERT INTO usage ({', '.join(_USAGE_COLUMNS)}) VALUES"
    f" ({', '.join('?' for _ in _USAGE_COLUMNS)}) ON CONFLICT (call_id) DO NOTHING"
)


def _tokens(row: sqlite3.Row, start: int) -> dict[str, int]:
    """The token sums of a row, from column ``start`` on (in ``_TOKENS`` order)."""
    return {name: row[start + i] for i, name in enumerate(_TOKENS)}


def _group(row: sqlite3.Row) -> SpendGroup:
    n = len(_TOKENS)
    return SpendGroup(key=row[0], calls=row[1], **_tokens(row, 2), cost_usd=from_nanos(row[2 + n]))


def _insert_usage(conn: sqlite3.Connection, u: UsageRecord) -> bool:
    values = (
        u.call_id, u.run_id, u.job_id, u.layer, u.provider, u.model,
        *(getattr(u, name) for name in _TOKENS), to_nanos(u.cost_usd), u.estimated,
        u.fallback, to_us(u.at),
    )  # fmt: skip
    return bool(conn.execute(_INSERT_USAGE, values).rowcount)


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


class SQLiteLedger(Database, LedgerStore):
    """``LedgerStore`` on SQLite."""

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
        check_spend_field(field)
        rows = self._all(
            f"SELECT {field}, {_SUMS}, {_COST} FROM usage WHERE at >= ? GROUP BY {field}"
            f" ORDER BY {_COST} DESC, {field} LIMIT ?",
            (opt_us(since) if since else FOREVER_AGO, -1 if limit is None else limit),
        )
        return [_group(row) for row in rows]

    def usage_totals(self) -> list[UsageTotal]:
        rows = self._all(
            f"SELECT provider, model, layer, calls, {', '.join(_TOKENS)}, cost"
            " FROM usage_totals ORDER BY provider, model, layer"
        )
        return [
            UsageTotal(provider=r[0], model=r[1], layer=r[2] or None, calls=r[3],
                       **_tokens(r, 4), cost_usd=from_nanos(r[4 + len(_TOKENS)]))
            for r in rows
        ]  # fmt: skip

    def spend_series(
        self, bucket: Literal["hour", "day"], since: datetime, until: datetime, tz: ZoneInfo
    ) -> list[SpendBucket]:
        """Each bucket sums its whole span (a day bucket is the full local day)."""
        edges = [to_us(edge) for edge in periods.spend_bucket_edges(bucket, since, until, tz)]
        rows = self._all(
            # One index range scan per bucket (usage_at_cost covers it); a join + GROUP BY
            # over a million rows was 25x slower (docs/benchmarks.md).
            f"{BUCKETS_CTE} SELECT b.lo,"
            " (SELECT count(*) FROM usage WHERE at >= b.lo AND at < b.hi),"
            " (SELECT coalesce(sum(cost), 0) FROM usage WHERE at >= b.lo AND at < b.hi)"
            " FROM b ORDER BY b.lo",
            (json.dumps(list(zip(edges, edges[1:], strict=False))),),
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
        check_amount(reservation_id, "amount", amount)
        need, now_us = to_nanos(amount), to_us(now)
        with self._tx() as conn:
            conn.execute("DELETE FROM reservations WHERE lease_until < ?", (now_us,))
            taken = conn.execute(
                "SELECT 1 FROM reservations WHERE id = ?"
                " UNION ALL SELECT 1 FROM settlements WHERE reservation_id = ?",
                (reservation_id, reservation_id),
            ).fetchone()
            if taken:
                raise reservation_in_use(reservation_id)
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
        check_amount(reservation_id, "actual", actual)
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
