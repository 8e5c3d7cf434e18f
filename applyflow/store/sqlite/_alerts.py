"""Alerts and breaker states in the SQLite store; alert dedup runs in ``BEGIN IMMEDIATE``."""

from __future__ import annotations

from datetime import datetime

from applyflow.models import Alert, BreakerState
from applyflow.store.alerts import AlertStore
from applyflow.store.sqlite._db import FOREVER_AGO, Database, from_us, opt_us, seconds_us, to_us


class SQLiteAlerts(Database, AlertStore):
    """``AlertStore`` on SQLite."""

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
            (opt_us(since) if since else FOREVER_AGO, limit),
        )
        return [
            Alert(key=r["key"], kind=r["kind"], level=r["level"], message=r["message"],
                  at=from_us(r["at"]))
            for r in rows
        ]  # fmt: skip

    def alert_counts(self) -> dict[str, int]:
        rows = self._all("SELECT kind, count(*) FROM alerts GROUP BY kind ORDER BY kind")
        return {row[0]: row[1] for row in rows}

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
