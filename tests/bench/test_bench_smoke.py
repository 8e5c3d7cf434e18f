"""Benchmarks at tiny sizes: each core function runs and keeps its correctness invariants
(never timings: speed belongs in ``bench/``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from applyflow.settings import get_settings
from applyflow.store.sqlite import SQLiteStore
from bench import budget_accuracy, guard_overhead, stats_queries
from bench import report as bench_report
from bench.rate_utilisation import max_in_window, run_config

APPLYFLOW_ENV = ("APPLYFLOW_STORE_URL", "APPLYFLOW_OUTPUT_DIR", "APPLYFLOW_PROFILE",
                 "APPLYFLOW_MODEL")  # fmt: skip


@pytest.fixture
def bench_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Benchmarks point the process settings at their stores: restore them afterwards."""
    for name in APPLYFLOW_ENV:
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_percentile_and_max_in_window() -> None:
    assert bench_report.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert bench_report.percentile(list(map(float, range(1, 101))), 99) == 99.0
    times = [0.0, 0.2, 0.4, 0.99, 1.0, 1.5, 1.6]
    assert max_in_window(times, 1.0) == 4  # [0.0, 1.0) holds 0.0..0.99; 1.0 starts the next
    assert max_in_window(times, 0.5) == 3  # [0.0, 0.5)
    assert max_in_window([], 1.0) == 0


def test_report_writes_results_with_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_report, "RESULTS_DIR", tmp_path)
    monkeypatch.delenv(bench_report.QUICK_ENV, raising=False)
    doc = bench_report.report("demo", "Demo", [{"measure": "x", "ms": 1.5}], params={"n": 1})
    written = json.loads((tmp_path / "demo.json").read_text())
    assert written == json.loads(json.dumps(doc, default=str))
    assert written["results"] == [{"measure": "x", "ms": 1.5}]
    assert set(written["machine"]) == {"cpu_count", "cpu_model", "python", "platform", "date"}


def test_stats_queries_dataset_matches_what_the_store_reports(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    built = stats_queries.build_dataset(tmp_path, jobs=400, usage_rows=3000, now=now)
    assert 0.2 < built["applied"] / 400 < 0.4
    settings = bench_report.bench_settings(tmp_path)
    store = SQLiteStore(settings.store_url)
    try:
        assert store.application_stats(now, settings.tz).total == built["applied"]
        assert store.usage_total().calls == 3000
        total = store.scope_states(["total"], now)["total"].spent
        assert total == pytest.approx(store.usage_total().cost_usd, abs=1e-9)
    finally:
        store.close()
    rows = stats_queries.measure_queries(tmp_path, now, repeat=2)
    assert [r["measure"] for r in rows] == [
        "application stats", "funnel", "weekly series (12 weeks)", "budget summary",
        "daily spend series (30 days)", "metrics scrape (every series)",
    ]  # fmt: skip
    assert all(r["median_ms"] >= 0 and isinstance(r["met"], bool) for r in rows)
    # The rollups the scrape reads hold what counting the rows gives.
    with sqlite3.connect(tmp_path / "applyflow.db") as raw:
        counts = dict(raw.execute("SELECT status, count(*) FROM progress GROUP BY status"))
    store = SQLiteStore(settings.store_url)
    try:
        assert sum(t.calls for t in store.usage_totals()) == 3000
        layers = store.layer_stats()
        assert sum(s.completed for s in layers) == counts["completed"]
        assert sum(s.failures for s in layers) == counts["failed"]
        assert sum(counts.values()) == built["progress_rows"] == 400 * 5
    finally:
        store.close()
    assert set(stats_queries.measure_scans(tmp_path, 1)) == set(stats_queries.SCANS)


def test_budget_reservations_never_overspend_across_processes(tmp_path: Path) -> None:
    ours = budget_accuracy.run_round("reserve", tmp_path, processes=3, cap=0.05, seed=1)
    assert ours["calls"] > 0
    assert ours["overspend_usd"] == 0.0
    assert 0 < ours["spent_usd"] <= 0.05
    assert ours["spent_usd"] == pytest.approx(ours["recorded_usd"], abs=1e-9)
    naive = budget_accuracy.run_round("naive", tmp_path, processes=3, cap=0.05, seed=1)
    assert naive["calls"] > 0
    assert naive["spent_usd"] == pytest.approx(naive["recorded_usd"], abs=1e-9)
    assert naive["overspend_usd"] == pytest.approx(max(0.0, naive["spent_usd"] - 0.05), abs=1e-9)


def test_guard_overhead_records_every_guarded_call(tmp_path: Path) -> None:
    settings = bench_report.bench_settings(tmp_path, **guard_overhead.ENGAGED)
    store = SQLiteStore(settings.store_url)
    try:
        result = guard_overhead.measure(settings, store, calls=10, warmup=2)
    finally:
        store.close()
    assert result["usage_rows"] == 12  # warm-up and timed guarded calls, never the raw ones
    assert result["spent_usd"] > 0
    assert result["raw_median_ms"] > 0 and result["guarded_median_ms"] > 0
    assert result["ratio"] == pytest.approx(result["guarded_median_ms"] / result["raw_median_ms"])


def test_our_rate_guard_never_admits_more_than_the_limit(tmp_path: Path) -> None:
    result = run_config("ours", "5/second", tmp_path, processes=2, span=2.0)
    assert result["admissions"] > 0
    assert result["max_in_window_storage"] <= 5
    assert result["admissions"] <= 10  # two whole windows


def test_prefect_rate_limit_runs_on_the_shared_api(prefect_harness: None, tmp_path: Path) -> None:
    from bench.prefect_server import shared_api_url

    url = shared_api_url()
    result = run_config("prefect", "5/second", tmp_path, processes=2, span=2.0, api_url=url)
    assert result["admissions"] > 0
    # A token bucket of 5 slots refilled at 5/s admits at most 5 + 5 * 2 in 2 s.
    assert result["admissions"] <= 15


def test_pipeline_flow_and_loop_process_every_job(
    prefect_harness: None, bench_env: None, tmp_path: Path
) -> None:
    from bench.pipeline_throughput import prepare, run_flow, run_loop

    prepare(tmp_path / "flow", 3)
    flow = run_flow(3)
    assert flow["ready"] == 3
    loop = run_loop(prepare(tmp_path / "loop", 3), 3)
    assert loop["ready"] == 3
    assert flow["calls"] == loop["calls"] == 12  # four model layers per job; publish has none


def test_ingest_flow_then_reingest_adds_nothing(
    prefect_harness: None, bench_env: None, tmp_path: Path
) -> None:
    from bench.ingest_rate import time_flow, time_parts
    from bench.postings import posting_records, write_jsonl

    source = write_jsonl(tmp_path / "postings.jsonl", posting_records(20))
    flow = time_flow(source, tmp_path / "flow")
    assert flow["first"].inserted == 20 and flow["first"].rejected == 0
    assert flow["again"].unchanged == 20 and flow["again"].inserted == 0
    parts = time_parts(source, tmp_path / "parts")
    assert parts["postings"] == parts["inserted"] == parts["unchanged_again"] == 20


def test_six_loopback_boards_ingest_and_reingest_adds_nothing(
    prefect_harness: None, bench_env: None, tmp_path: Path
) -> None:
    from bench.boards import BOARD_SOURCES, serve_boards
    from bench.ingest_rate import time_boards, time_flow

    with serve_boards(12) as base:  # 12 postings: two SmartRecruiters pages would need 101+
        flow = time_flow(BOARD_SOURCES, tmp_path / "flow", base)
        reads = time_boards(base, tmp_path / "reads")
    first, again = flow["first"], flow["again"]
    assert first.rejected == 0 and first.inserted + first.linked == 6 * 12
    assert [s.postings for s in first.sources] == [12] * 6
    assert again.unchanged == 6 * 12 and again.inserted == again.updated == 0
    assert set(reads) == set(BOARD_SOURCES)


@pytest.mark.usefixtures("prefect_harness")
def test_prefect_slot_measures_every_side_and_leaves_no_slot_held() -> None:
    from bench.prefect_slot import measure

    found = measure(rounds=4, warmup=1, prefect_every=2)
    assert len(found["slot_ms"]) == len(found["roundtrip_ms"]) == 4
    assert len(found["prefect_concurrency_ms"]) == 2 and len(found["caller_ms"]) == 4
    assert found["active_slots_after"] == 0


def test_paid_pipeline_counts_the_time_at_each_number_in_flight() -> None:
    from bench.paid_pipeline import in_flight_profile

    spans = [(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]  # 1 in flight, then 2, 1, none, 1
    profile = in_flight_profile(spans, 2)
    assert profile == {"0_in_flight_s": 2.0, "1_in_flight_s": 3.0, "2_in_flight_s": 1.0}


def test_preflight_bench_checks_a_profile_that_passes() -> None:
    from bench.preflight import preflight_once

    assert preflight_once() >= 0  # it asserts the preflight found nothing wrong


def test_structured_output_repairs_only_on_the_text_path(
    prefect_harness: None, bench_env: None, tmp_path: Path
) -> None:
    from bench.structured_output import run_side

    before = run_side(tmp_path / "before", structured=False, jobs=2, every=3)
    after = run_side(tmp_path / "after", structured=True, jobs=2, every=3)
    assert before["of them first"] >= 1 and before["repair calls"] == before["of them first"]
    assert after["of them first"] >= 1 and after["repair calls"] == 0
    assert after["strict requests"] == after["model calls"] and after["refused (400)"] == 0
    assert after["jobs ready"] == 2 and before["ledger = bill"] and after["ledger = bill"]


def test_the_provider_process_reports_what_it_answered_on_this_process_clock() -> None:
    import time

    import httpx

    from bench.provider_process import ProviderProcess

    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    with ProviderProcess(0.0) as provider:
        sent = time.monotonic()
        reply = httpx.post(f"{provider.url}/chat/completions", json=body, timeout=30)
        done = time.monotonic()
        [seen] = provider.requests
    assert reply.status_code == 200 and reply.json()["usage"]["total_tokens"] > 0
    assert sent <= seen.arrived <= seen.answered <= done  # one clock for both processes
