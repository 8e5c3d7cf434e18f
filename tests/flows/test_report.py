"""Daily report: the Markdown text from the store, the artifact, and the webhook."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from applyflow.models import Alert, Run, RunStatus, Status, UsageRecord
from applyflow.settings import get_settings, load_settings
from applyflow.store import Store, open_store
from flows.report import ARTIFACT_KEY, build_report, daily_report
from tests.factories import make_posting
from tests.loopback import Handler

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 16:00 in Berlin; local day began 23:00 UTC
TZ = "Europe/Berlin"
SECRET_PATH = "/hooks/T000-SECRET-TOKEN"


def seed(store: Store, now: datetime) -> None:
    """Applications over several periods, runs today and yesterday, spend, alerts."""
    applied_ago = [timedelta(hours=1), timedelta(days=3), timedelta(days=20), timedelta(days=60)]
    for ago in applied_ago:
        posting = make_posting()
        store.upsert_job(posting, now - timedelta(days=90))
        store.set_status(posting.id, Status.APPLIED, now - ago)
    store.upsert_job(make_posting(), now)  # still new
    for run_id, status, ago, counts in [
        ("run-done", RunStatus.COMPLETED, timedelta(hours=3), {"ready": 2, "over_budget": 1}),
        ("run-failed", RunStatus.FAILED, timedelta(hours=2), None),
        ("run-stopped", RunStatus.STOPPED, timedelta(hours=1), {"new": 1, "over_budget": 2}),
        ("run-yesterday", RunStatus.COMPLETED, timedelta(hours=20), {"over_budget": 5}),
    ]:
        summary = {"counts": counts} if counts else {"error": "store went away"}
        run = Run(id=run_id, started_at=now - ago, status=status, model="offline", summary=summary)
        store.save_run(run)
    scopes = ["total", "month:2026-11", "day:2026-11-28"]
    store.reserve("res-1", dict.fromkeys(scopes), 0.30, now - timedelta(hours=3), 600)
    call = UsageRecord(
        call_id="call-1",
        run_id="run-done",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=1200,
        output_tokens=300,
        cost_usd=0.25,
        at=now - timedelta(hours=3),
    )
    store.settle("res-1", scopes, 0.25, now - timedelta(hours=3), usage=call)
    old_call = call.model_copy(
        update={
            "call_id": "call-0",
            "run_id": "run-yesterday",
            "cost_usd": 1.0,
            "at": now - timedelta(hours=20),
        }
    )
    store.record_usage(old_call)
    store.record_alert(
        Alert(
            key="budget:day",
            kind="budget_warning",
            message="day budget at 83%",
            at=now - timedelta(hours=1),
        ),
        dedup_s=300,
    )
    store.record_alert(
        Alert(
            key="breaker:openai",
            kind="breaker_opened",
            message="yesterday's alert",
            at=now - timedelta(hours=20),
        ),
        dedup_s=300,
    )


def test_report_counts_runs_spend_and_alerts_of_the_day(store: Store) -> None:
    seed(store, NOW)
    settings = load_settings(timezone=TZ, budget_daily_usd=0.30)
    text = build_report(settings, store, NOW)

    assert text.startswith("# applyflow daily report, Saturday 2026-11-28 (Europe/Berlin)")
    # today / 7 days / 30 days / total
    assert "| 1 | 2 | 3 | 4 |" in text
    assert "5 ingested" in text and "4 applied" in text
    assert "3 run(s): 1 done, 1 failed, 1 stopped (over budget or rate limit)." in text
    # 1 + 2 from today's runs; yesterday's 5 do not count.
    assert "3 job(s) ended over budget (their own cap) in today's runs." in text
    assert "| run-done | 13:00 | done | offline | 1 | $0.2500 |" in text  # local start time
    assert "| run-failed | 14:00 | failed |" in text
    assert "run-yesterday" not in text
    assert "Today: $0.2500 over 1 call(s), 1,200 input and 300 output tokens." in text
    assert "| day | $0.3000 | $0.2500 | $0.0000 | $0.0500 | 83.3% | warning |" in text
    assert "| month | no cap | $0.2500 | $0.0000 |  |  | unlimited |" in text
    assert "| 15:00 | warning | budget_warning | day budget at 83% |" in text
    assert "yesterday's alert" not in text


def test_report_lists_the_follow_ups_quietest_first(store: Store) -> None:
    seed(store, NOW)  # applications sent 1 hour, 3, 20 and 60 days ago
    text = build_report(load_settings(timezone=TZ, followup_days=7), store, NOW)
    section = text.split("## Follow-ups\n", 1)[1].split("## Runs today", 1)[0]
    assert "2 application(s) without news for 7 days or more, quietest first:" in section
    sixty, twenty = store.list_followups(NOW - timedelta(days=7))
    rows = [line for line in section.splitlines() if line.startswith(f"| {sixty.company} ")
            or line.startswith(f"| {twenty.company} ")]  # fmt: skip
    assert rows == [
        f"| {sixty.company} | {sixty.title} | applied | 2026-09-29 | 60 days | {sixty.url} |",
        f"| {twenty.company} | {twenty.title} | applied | 2026-11-08 | 20 days | {twenty.url} |",
    ]
    shorter = build_report(load_settings(timezone=TZ, followup_days=30), store, NOW)
    assert "1 application(s) without news for 30 days or more" in shorter


def test_report_of_a_quiet_day(store: Store) -> None:
    text = build_report(load_settings(timezone=TZ), store, NOW)
    assert "No application has gone 7 days without news." in text
    assert "| 0 | 0 | 0 | 0 |" in text
    assert "No runs today." in text
    assert "No alerts today." in text
    assert "Today: $0.0000 over 0 call(s)" in text


class _Receiver(ThreadingHTTPServer):
    """Loopback webhook: records JSON bodies, answers with ``status``."""

    def __init__(self, status: int) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.status = status
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{SECRET_PATH}"


class _Handler(Handler):
    server: _Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.server.bodies.append(json.loads(self.body()))
        self.server.paths.append(self.path)
        self.send_response(self.server.status)
        self.end_headers()


def _receiver(status: int) -> Iterator[_Receiver]:
    server = _Receiver(status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def webhook() -> Iterator[_Receiver]:
    yield from _receiver(200)


@pytest.fixture
def refusing_webhook() -> Iterator[_Receiver]:
    yield from _receiver(500)


@pytest.fixture
def report_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """The flow reads settings from the environment: a temporary SQLite store."""
    monkeypatch.setenv("APPLYFLOW_STORE_URL", f"sqlite:///{tmp_path / 'report.db'}")
    monkeypatch.setenv("APPLYFLOW_TIMEZONE", TZ)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _artifact_markdown() -> str:
    from prefect.artifacts import Artifact

    artifact = Artifact.get(key=ARTIFACT_KEY)
    assert artifact is not None, "no daily-report artifact"
    return str(artifact.data)


def test_flow_writes_artifact_and_sends_the_same_text(
    prefect_harness: None, report_env: pytest.MonkeyPatch, webhook: _Receiver
) -> None:
    report_env.setenv("APPLYFLOW_ALERT_WEBHOOK_URL", webhook.url)
    get_settings.cache_clear()
    store = open_store(get_settings())
    try:
        store.save_run(Run(id="run-now", started_at=datetime.now(UTC), status=RunStatus.FAILED))
    finally:
        store.close()

    text = daily_report()

    assert "1 run(s): 1 failed." in text
    assert "0 job(s) ended over budget" in text
    assert "| run-now |" in text
    assert _artifact_markdown() == text
    assert webhook.bodies == [{"text": text}]
    assert webhook.paths == [SECRET_PATH]


def test_flow_completes_when_the_webhook_fails(
    prefect_harness: None,
    report_env: pytest.MonkeyPatch,
    refusing_webhook: _Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    report_env.setenv("APPLYFLOW_ALERT_WEBHOOK_URL", refusing_webhook.url)
    get_settings.cache_clear()

    with caplog.at_level(logging.WARNING, logger="applyflow.alerts"):
        state = daily_report(return_state=True)

    assert state.is_completed(), state
    text = state.result()
    assert "No runs today." in text
    assert _artifact_markdown() == text
    assert refusing_webhook.bodies == [{"text": text}]
    assert "HTTP 500" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text


def test_a_failed_report_raises_a_flow_failed_alert(
    prefect_harness: None, report_env: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> str:
        raise RuntimeError("stats query broke")

    report_env.setattr("flows.report.build_report", broken)
    state = daily_report(return_state=True)

    assert state.is_failed(), state
    store = open_store(get_settings())
    try:
        [alert] = store.list_alerts()
    finally:
        store.close()
    assert (alert.kind, alert.level) == ("flow_failed", "error")
    assert alert.key == f"flow:daily-report:{state.state_details.flow_run_id}"
    assert "stats query broke" in alert.message
