"""What only the SQLite store has: its URL, file, schema version, pragmas and connections."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from applyflow.errors import StoreError
from applyflow.models import TOKEN_CLASSES, JobPosting, ProgressRecord, ProgressStatus, Status
from applyflow.money import to_nanos
from applyflow.store import open_store
from applyflow.store.sqlite import SCHEMA_VERSION, SQLiteStore
from tests.factories import NOW, add_job, make_usage


def test_open_store_picks_sqlite_and_creates_the_folder(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "er" / "applyflow.db"
    store = open_store(f"sqlite:///{db}")
    assert isinstance(store, SQLiteStore)
    assert db.is_file()
    store.close()


def test_relative_url_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    SQLiteStore("sqlite:///.applyflow/applyflow.db").close()
    assert (tmp_path / ".applyflow" / "applyflow.db").is_file()


def test_unopenable_path_names_the_url(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    url = f"sqlite:///{blocker / 'applyflow.db'}"
    with pytest.raises(StoreError, match="cannot open SQLite store") as err:
        SQLiteStore(url)
    assert url in str(err.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite " * 100)
    with pytest.raises(StoreError, match="junk.db"):
        SQLiteStore(f"sqlite:///{junk}")


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite:///:memory:", "postgres:///x"])
def test_bad_urls_say_what_is_expected(url: str) -> None:
    with pytest.raises(StoreError, match="SQLite"):
        SQLiteStore(url)


def test_schema_is_versioned_wal_and_reopening_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = SQLiteStore(url)
    job_id = add_job(store)
    store.close()
    again = SQLiteStore(url)
    assert again.get_job(job_id).id == job_id
    again.close()
    with sqlite3.connect(tmp_path / "s.db") as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_upgrading_from_schema_2_counts_the_stored_rows_in_the_rollups(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(f"sqlite:///{path}")
    store.record_usage(make_usage(cost_usd=0.5, input_tokens=7))
    store.record_progress(
        ProgressRecord(
            run_id="r", job_id="j", layer="score", status=ProgressStatus.FAILED, updated_at=NOW
        )
    )
    store.close()
    with sqlite3.connect(path) as raw:  # as applyflow with schema 2 left it: no rollups
        for table in ("usage_totals", "layer_durations", "layer_failures"):
            raw.execute(f"DROP TABLE {table}")
        raw.execute("PRAGMA user_version = 2")
    store = SQLiteStore(f"sqlite:///{path}")
    (totals,) = store.usage_totals()
    assert (totals.calls, totals.input_tokens, totals.cost_usd) == (1, 7, 0.5)
    assert [(s.layer, s.failures) for s in store.layer_stats()] == [("score", 1)]
    store.record_usage(make_usage(cost_usd=0.25))  # and the triggers count new rows
    assert store.usage_totals()[0].calls == 2
    store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this applyflow supports"):
        SQLiteStore(f"sqlite:///{path}")


def test_stats_queries_use_indexes(sqlite_store: SQLiteStore) -> None:
    conn = sqlite_store._conn()
    for sql, index in [
        ("SELECT count(*) FROM jobs WHERE applied_at BETWEEN 1 AND 2", "jobs_applied"),
        ("SELECT * FROM jobs ORDER BY updated_at DESC LIMIT 5", "jobs_updated"),
        ("SELECT count(*) FROM usage WHERE at >= 1 AND at < 2", "usage_at"),
        ("SELECT sum(cost) FROM usage WHERE run_id = 'r'", "usage_run"),
        # The posting lookup, the cross-source match and the follow-ups.
        ("SELECT job_id FROM job_sources WHERE posting_id = 'p' AND source = 's'",
         "sqlite_autoindex_job_sources_1"),
        ("SELECT id FROM jobs WHERE match_key = 'k' ORDER BY ingested_at LIMIT 1", "jobs_match"),
        ("SELECT * FROM jobs WHERE status IN ('applied', 'interview') AND status_changed_at <= 5"
         " ORDER BY status_changed_at", "jobs_status_changed"),
    ]:  # fmt: skip
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert index in plan, (sql, plan)


def test_naive_datetimes_are_taken_as_utc(sqlite_store: SQLiteStore) -> None:
    naive = datetime(2026, 3, 18, 12, 0)
    sqlite_store.record_usage(make_usage(at=naive, cost_usd=0.5))
    total = sqlite_store.usage_total(since=NOW - timedelta(hours=5), until=NOW)
    assert total.calls == 1


def test_each_thread_uses_its_own_connection(sqlite_store: SQLiteStore) -> None:
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(id(sqlite_store._conn())))
    thread.start()
    thread.join()
    assert seen and seen[0] != id(sqlite_store._conn())


def _claim_in_child(store: SQLiteStore) -> None:
    inherited = store._local.conn
    claimed = store.claim_jobs(1, "child", 60, NOW)
    os._exit(0 if store._conn() is not inherited and len(claimed) == 1 else 3)


def test_a_forked_child_opens_its_own_connection(sqlite_store: SQLiteStore) -> None:
    job_id = add_job(sqlite_store)
    child = multiprocessing.get_context("fork").Process(
        target=_claim_in_child, args=(sqlite_store,)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert sqlite_store.get_job(job_id).claimed_by == "child"


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 's.db'}")
    assert store.ping() >= 0
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.ping()


def test_connections_of_finished_threads_are_closed(tmp_path) -> None:
    import threading

    from applyflow.store.sqlite import SQLiteStore

    store = SQLiteStore(f"sqlite:///{tmp_path / 'threads.db'}")
    try:
        for _ in range(20):
            worker = threading.Thread(target=store.ping)
            worker.start()
            worker.join()
        store.ping()  # a new connection here prunes the finished threads' ones
        assert len(store._conns) <= 2  # this thread's, plus at most the one that opened it
    finally:
        store.close()


# --- upgrading a store written before job sources and history (schema 2 -> 4) ---------------
V2_DUMP = Path(__file__).resolve().parents[1] / "data" / "store_v2.sql"


def test_a_version_2_store_is_upgraded_and_its_jobs_look_unchanged(tmp_path: Path) -> None:
    """tests/data/store_v2.sql was written by applyflow at schema 2: a Greenhouse job that is
    ready (with an extract output), a file job and an applied Lever job."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(V2_DUMP.read_text())
    store = SQLiteStore(f"sqlite:///{db}")
    try:
        jobs = {j.source: j for j in store.list_jobs()}
        board, filed, applied = (
            jobs["greenhouse:nimbus"],
            jobs["file:jobs.json"],
            jobs["lever:acme"],
        )
        assert [s.posting_id for s in board.sources] == [board.id]  # its own one source
        assert board.sources[0].content_hash == board.content_hash
        assert board.match_key == "nimbusworks|senior backend engineer|berlin"
        assert (board.status, list(board.outputs)) == (Status.READY, ["extract"])
        assert applied.status_changed_at == applied.applied_at  # follow-ups count from there
        assert board.history == []  # what happened before was not recorded
        # Re-ingesting the same postings changes nothing: no stored job is requeued.
        again = [
            JobPosting(source=j.source, external_id=j.external_id, url=j.url, title=j.title,
                       company=j.company, location=j.location, description=j.description)
            for j in (board, filed, applied)
        ]  # fmt: skip
        report = store.upsert_jobs(again, NOW)
        assert (report.unchanged, report.requeued, report.linked) == (3, 0, 0)
        assert store.get_job(board.id).status == Status.READY
        # And the upgraded jobs take part in matching: the same job on Ashby joins its job.
        ashby = again[0].model_copy(update={"source": "ashby:nimbusworks", "external_id": "9d"})
        assert store.upsert_posting(ashby, NOW).job_id == board.id
    finally:
        store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6


V5_DUMP = Path(__file__).resolve().parents[1] / "data" / "store_v5.sql"


def test_a_version_5_store_gains_the_token_classes_and_keeps_its_usage(tmp_path: Path) -> None:
    """tests/data/store_v5.sql was written by applyflow at schema 5: three usage rows, no
    token-class columns. The upgrade adds them (0 on the old rows) to the rows and rollups,
    and the rollup trigger counts the classes of the calls recorded after it."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as raw:
        raw.executescript(V5_DUMP.read_text())
    store = SQLiteStore(f"sqlite:///{db}")
    try:
        total = store.usage_total(run_id="run-v5")
        assert (total.calls, total.input_tokens, total.output_tokens) == (3, 19000, 2200)
        assert to_nanos(total.cost_usd) == 2_550_000 + 480_000 + 25_500_000
        assert all(getattr(total, name) == 0 for name in TOKEN_CLASSES)
        before = {(t.model, t.layer): t for t in store.usage_totals()}
        assert before[("gpt-4o-mini", "extract")].input_tokens == 13000
        store.record_usage(
            make_usage(run_id="run-v5", layer="extract", input_tokens=9000, cache_read_tokens=8000,
                       output_reasoning_tokens=40, cost_usd=0.001)
        )  # fmt: skip
        after = {(t.model, t.layer): t for t in store.usage_totals()}[("gpt-4o-mini", "extract")]
        assert (after.calls, after.input_tokens, after.cache_read_tokens) == (2, 22000, 8000)
        assert after.output_reasoning_tokens == 40
        (openai,) = [g for g in store.spend_by("provider") if g.key == "openai"]
        assert (openai.calls, openai.cache_read_tokens, openai.cache_write_tokens) == (3, 8000, 0)
    finally:
        store.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        columns = {row[1] for row in raw.execute("PRAGMA table_info(usage)")}
        assert set(TOKEN_CLASSES) <= columns


def test_copy_in_keeps_every_field_and_output_of_a_job(tmp_path: Path) -> None:
    """A dry run's scratch copy: the jobs as they are, without their sources and history."""
    from tests.factories import job_in, make_output

    source = SQLiteStore(f"sqlite:///{tmp_path / 'real.db'}")
    scratch = SQLiteStore(f"sqlite:///{tmp_path / 'scratch.db'}")
    applied = job_in(source, Status.APPLIED)
    source.save_layer_output(applied, "score", make_output(cost=0.25, fit=61), fit=61)
    failed = job_in(source, Status.FAILED)
    jobs = [source.get_job(applied), source.get_job(failed)]
    scratch.copy_in(jobs)
    for job in jobs:
        copy = scratch.get_job(job.id)
        assert copy == job.model_copy(update={"sources": [], "history": []})
    source.close()
    scratch.close()
