"""paid_pipeline: is a paid run latency-bound? 40 jobs through ``process_jobs`` on a provider
that takes 400 ms to answer, job concurrency 4, ``llm-openai`` = 4 slots, real ``prefect server``.

The provider is ``applyflow offline-provider``'s server (latency 0.4 s) in a process of its own
(``bench.provider_process``), as a real provider is on another machine: an OpenAI-compatible
loopback server answering every layer with usage after a fixed latency.
``APPLYFLOW_MODEL=openai:gpt-4o-mini`` at its genai-prices price, every guard engaged (key,
budget caps, an SQLite rate window, the Prefect slot, the breaker). With 4 calls in flight at
all times the calls would take ``ideal = model calls x latency / 4``; ``summary.efficiency`` is
ideal / the span the provider saw (first request in to last answer out); target >= 0.9.

Measured twice in one run: on ``prefect server start``'s default SQLite database, then (not in
quick mode, and only with Debian's postgresql-15) on a throwaway PostgreSQL cluster, the
production topology. ``summary.efficiency`` is the SQLite one.

Where the time goes is measured from the provider's own timestamps: per job, the gap between
one answer and the next request (orchestration between layers: task runs, hooks, progress
rows, the guards), and the time with fewer than 4 requests in flight.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.postings import posting_records, write_jsonl
from bench.prefect_server import local_server
from bench.provider_process import paid_env
from bench.report import median, percentile, quick_mode, report

__all__ = ["in_flight_profile", "main", "run_once"]

NAME = "paid_pipeline"
LATENCY_S = 0.4
CONCURRENCY = 4
TARGET = 0.9
MODEL = "openai:gpt-4o-mini"


def _settings_env(folder: Path, base_url: str) -> dict[str, str]:
    return {
        **paid_env(folder, base_url, MODEL),
        "APPLYFLOW_JOB_CONCURRENCY": str(CONCURRENCY),
        "APPLYFLOW_MAX_PARALLEL_CALLS": json.dumps({"openai": CONCURRENCY}),
        "APPLYFLOW_BUDGET_TOTAL_USD": "100",
        "APPLYFLOW_BUDGET_DAILY_USD": "50",
        "APPLYFLOW_BUDGET_PER_RUN_USD": "20",
        "APPLYFLOW_BUDGET_PER_JOB_USD": "1",
        "APPLYFLOW_RATE_LIMITS": json.dumps({"openai": "10000/minute"}),
        "APPLYFLOW_RATE_STORAGE_URL": f"sqlite:///{folder / 'rate.db'}",
    }


def _prepare(folder: Path, base_url: str, jobs: int, seed: int) -> Any:
    """Process settings for a fresh store under ``folder`` holding ``jobs`` new jobs."""
    from applyflow.models import utcnow
    from applyflow.settings import get_settings
    from applyflow.store import open_store
    from tasks.ingest import read_source

    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(_settings_env(folder, base_url))
    get_settings.cache_clear()
    settings = get_settings()
    source = write_jsonl(folder / "postings.jsonl", posting_records(jobs, seed=seed))
    batch = read_source(str(source), settings=settings)
    store = open_store(settings)
    try:
        store.upsert_jobs(batch.postings, utcnow())
    finally:
        store.close()
    return settings


def in_flight_profile(spans: list[tuple[float, float]], slots: int) -> dict[str, float]:
    """Seconds with 0, 1..slots-1 and ``slots`` (or more) requests in flight, over the span."""
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    out = {f"{n}_in_flight_s": 0.0 for n in range(slots + 1)}
    level, last = 0, edges[0][0] if edges else 0.0
    for at, step in edges:
        out[f"{min(level, slots)}_in_flight_s"] += at - last
        level, last = level + step, at
    return {k: round(v, 3) for k, v in out.items()}


def run_once(folder: Path, provider: Any, jobs: int, seed: int) -> dict[str, Any]:
    """One ``process_jobs`` over ``jobs`` new jobs; the provider's view of its calls."""
    from flows.deployments import setup_prefect
    from flows.pipeline import process_jobs

    settings = _prepare(folder, provider.url, jobs, seed)
    setup_prefect(settings)  # llm-openai = 4, as `applyflow setup` makes it
    before = len(provider.requests)
    start = time.monotonic()
    summary = process_jobs(limit=jobs)
    seconds = time.monotonic() - start
    calls = provider.requests[before:]
    spans = [(r.arrived, r.answered) for r in calls if r.answered is not None]
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    return {
        "seconds": seconds,
        "calls": len(calls),
        "span_s": last - first,
        "before_first_call_s": first - start,
        "after_last_call_s": start + seconds - last,
        "ready": summary.counts.get("ready", 0),
        "usage_rows": summary.calls,
        "spend_usd": summary.spend_usd,
        "spans": spans,
    }


def _gaps(spans: list[tuple[float, float]]) -> list[float]:
    """Seconds between an answer and the next request: each arrival is matched to the latest
    unmatched answer before it (the call it most likely follows)."""
    answers = sorted(b for _, b in spans)
    out, used = [], set()
    for arrived, _ in sorted(spans):
        prior = [i for i, b in enumerate(answers) if b <= arrived and i not in used]
        if prior:
            used.add(prior[-1])
            out.append(arrived - answers[prior[-1]])
    return out


def _measure(jobs: int, **server_env: str) -> tuple[dict[str, Any], str]:
    """A warm-up run and the measured one on a fresh ``prefect server`` (``server_env``: its
    database); what the provider saw, and the server's API URL."""
    from applyflow.settings import get_settings
    from bench.provider_process import ProviderProcess

    with (
        tempfile.TemporaryDirectory(prefix="bench-paid-") as tmp,
        local_server(**server_env) as api_url,
        ProviderProcess(LATENCY_S) as provider,
    ):
        try:
            root = Path(tmp)
            run_once(root / "warm", provider, 2, seed=11)  # imports, flow registration
            return run_once(root / "run", provider, jobs, seed=3), api_url
        finally:
            get_settings.cache_clear()


def _on_postgres(jobs: int) -> tuple[dict[str, Any], str] | None:
    """The same on a server backed by a throwaway PostgreSQL cluster (the production
    topology, docs/deployments.md); None without Debian's postgresql-15."""
    from tests.debian import INITDB

    if not INITDB.is_file():
        return None
    from tests.postgres_server import running_postgres

    with running_postgres() as database_url:
        return _measure(jobs, PREFECT_API_DATABASE_CONNECTION_URL=database_url)


def _rows(found: dict[str, Any]) -> dict[str, float]:
    gaps = _gaps(found["spans"])
    ideal = found["calls"] * LATENCY_S / CONCURRENCY
    return {
        "model calls (provider requests)": found["calls"],
        "ideal: calls x latency / slots (s)": round(ideal, 3),
        "calls' span at the provider (s)": round(found["span_s"], 3),
        "process_jobs wall time (s)": round(found["seconds"], 3),
        "before the first call (s)": round(found["before_first_call_s"], 3),
        "after the last answer (s)": round(found["after_last_call_s"], 3),
        "answer -> next request, median (ms)": round(median(gaps) * 1000, 1),
        "answer -> next request, p90 (ms)": round(percentile(gaps, 90) * 1000, 1),
        "jobs ready": found["ready"],
        "efficiency: ideal / span": round(ideal / found["span_s"], 3),
        "efficiency_wall: ideal / wall time": round(ideal / found["seconds"], 3),
    }


def main() -> dict[str, Any]:
    jobs = 8 if quick_mode() else 40
    load_before = os.getloadavg()
    found, api_url = _measure(jobs)
    postgres = None if quick_mode() else _on_postgres(jobs)
    load_after = os.getloadavg()
    sqlite_rows = _rows(found)
    postgres_rows = _rows(postgres[0]) if postgres else {}
    rows = [
        {"measure": measure, "sqlite": value, "postgres": postgres_rows.get(measure)}
        for measure, value in sqlite_rows.items()
    ]
    efficiency = sqlite_rows["efficiency: ideal / span"]
    return report(
        NAME,
        f"Paid pipeline: {jobs} jobs, provider latency {LATENCY_S} s, {CONCURRENCY} slots",
        rows,
        params={
            "jobs": jobs,
            "latency_s": LATENCY_S,
            "job_concurrency": CONCURRENCY,
            "slots": CONCURRENCY,
            "model": MODEL,
            "provider": "applyflow offline-provider, own process",
            "prefect": "prefect server start: SQLite (the default), then PostgreSQL 15",
            "api": api_url,
            "store": "sqlite",
            "load_avg_before": load_before,
            "load_avg_after": load_after,
        },  # fmt: skip
        summary={
            "efficiency": efficiency,
            "efficiency_wall": sqlite_rows["efficiency_wall: ideal / wall time"],
            "efficiency_postgres": postgres_rows.get("efficiency: ideal / span"),
            "target": TARGET,
            "met": efficiency >= TARGET,
            **in_flight_profile(found["spans"], CONCURRENCY),
            "spend_usd": found["spend_usd"],
            "usage_rows": found["usage_rows"],
        },
        details={
            "postgres_in_flight": in_flight_profile(postgres[0]["spans"], CONCURRENCY)
            if postgres
            else None,
        },
    )


if __name__ == "__main__":
    main()
