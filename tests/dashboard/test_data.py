"""The data layer: bounded store connections, the pinned clock, Prefect URLs."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard import data


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc to count fds")
def test_store_calls_from_many_threads_reuse_a_few_connections(
    app_env: None, tmp_path: Path
) -> None:
    # Streamlit runs each rerun on a new thread; a per-thread SQLite connection must not leak.
    url = f"sqlite:///{tmp_path / 'threads.db'}"
    data.store(url).status_counts()
    before = _open_fds()
    for _ in range(40):
        worker = threading.Thread(target=lambda: data.store(url).status_counts())
        worker.start()
        worker.join()
    # At most one connection (db + wal files) per pool thread, never one per caller thread.
    assert _open_fds() - before <= 2 * 4


def test_pinned_now_is_utc_and_naive_means_utc(
    app_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(data.NOW_ENV, "2026-03-04T16:00:00+01:00")
    _, src = data.context()
    assert data.now(src) == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    monkeypatch.setenv(data.NOW_ENV, "2026-03-04T15:00:00")
    _, src = data.context()
    assert data.now(src) == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def test_live_clock_when_not_pinned(app_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(data.NOW_ENV)
    _, src = data.context()
    assert src.at is None
    first = data.now(src)
    assert first.tzinfo is not None and data.now(src) >= first


@pytest.mark.parametrize(
    ("api", "ui", "expected"),
    [
        ("http://127.0.0.1:4200/api", None, "http://127.0.0.1:4200/runs/flow-run/abc"),
        ("http://127.0.0.1:4200/api/", None, "http://127.0.0.1:4200/runs/flow-run/abc"),
        ("http://h/api", "https://prefect.example/", "https://prefect.example/runs/flow-run/abc"),
        (None, None, None),
    ],
)
def test_flow_run_link(
    monkeypatch: pytest.MonkeyPatch, api: str | None, ui: str | None, expected: str | None
) -> None:
    for name, value in (("PREFECT_API_URL", api), ("PREFECT_UI_URL", ui)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert data.flow_run_url("abc") == expected
    assert data.flow_run_url(None) is None


def test_followups_loader_lists_quiet_applications_for_the_overview(
    app_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import make_store
    from tests.dashboard.conftest import NOW
    from tests.dashboard.seed import seed

    store = make_store("sqlite", tmp_path)
    try:
        seed(store, NOW, UTC)  # applied 2 hours and 3 days ago, an interview 10 minutes ago...
        monkeypatch.setenv("APPLYFLOW_STORE_URL", store.url)
        _, src = data.context()
        due = data.load_followups(src, 2)
        assert list(due.columns) == data.FOLLOWUP_COLUMNS
        assert due[["title", "company", "status", "quiet_days"]].values.tolist() == [
            ["Backend Developer", "Initech", "applied", 3]
        ]
        assert data.load_followups(src, 7).empty  # the count the Overview shows is its length
    finally:
        store.close()
