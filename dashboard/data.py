"""What the dashboard shows, read through the store contract: one cached loader per data set.

Every loader takes a ``Source`` (store URL, time zone, clock, settings digest) as its cache key
and returns a pandas DataFrame (or a model for single records). "Now" comes from ``now()``:
the live clock, or ``APPLYFLOW_DASHBOARD_NOW`` (an ISO timestamp) so tests can pin it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from applyflow.errors import JobNotFound
from applyflow.models import Job, Run, Status, as_utc, utcnow
from applyflow.modelspec import parse_model
from applyflow.settings import Settings, load_settings
from applyflow.spend import budget_summary
from applyflow.stats import FUNNEL_SIDE, funnel
from applyflow.store import Store, open_store

__all__ = [
    "NOW_ENV",
    "Source",
    "context",
    "now",
    "use_store_factory",
    "store",
    "clear_caches",
    "load_applications",
    "load_funnel",
    "load_weekly",
    "load_runs",
    "load_run",
    "load_progress",
    "load_budget",
    "load_spend_series",
    "load_spend_by",
    "load_expensive_jobs",
    "load_forecast",
    "load_jobs",
    "load_job",
    "load_alerts",
    "load_breakers",
    "ping_store",
    "mark_job",
    "load_providers",
    "prefect_urls",
    "prefect_status",
    "flow_run_url",
]

NOW_ENV = "APPLYFLOW_DASHBOARD_NOW"
# Live pages (a running run) re-read often; the rest can be a little stale.
LIVE_TTL_S = 2
TTL_S = 30

StoreFactory = Callable[[str], Store]
_factory: StoreFactory = open_store


class Source(NamedTuple):
    """What a loader reads from; a tuple so Streamlit's cache can hash it."""

    url: str
    timezone: str
    at: str | None  # pinned "now" (ISO) or None for the live clock
    config: str  # digest of the settings: a settings change misses the cache

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _clock_override() -> str | None:
    """The pinned "now" from ``APPLYFLOW_DASHBOARD_NOW``, validated."""
    raw = os.environ.get(NOW_ENV, "").strip()
    if not raw:
        return None
    try:
        return as_utc(datetime.fromisoformat(raw)).isoformat()
    except ValueError:
        raise ValueError(
            f"{NOW_ENV}={raw!r} is not an ISO timestamp such as 2026-03-02T12:00:00+00:00"
        ) from None


def context() -> tuple[Settings, Source]:
    """Validated settings and the loaders' source (``SettingsError`` / ``ValueError`` if bad)."""
    settings = load_settings()
    digest = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]
    return settings, Source(settings.store_url, settings.timezone, _clock_override(), digest)


def now(src: Source) -> datetime:
    """The dashboard's "now": pinned by ``APPLYFLOW_DASHBOARD_NOW`` or the live UTC clock."""
    return datetime.fromisoformat(src.at) if src.at else utcnow()


def use_store_factory(factory: StoreFactory | None) -> None:
    """Open stores with ``factory`` (tests share one mongomock client); None restores the URL."""
    global _factory
    _factory = factory or open_store
    store.clear()
    clear_caches()


class _StoreThreads:
    """A store whose calls all run on a few long-lived threads.

    Streamlit runs every rerun on a new thread, and a store may keep one connection per
    thread (SQLite does), so calling it directly would open a connection per rerun. A fixed
    pool bounds the dashboard's connections to ``workers``.
    """

    def __init__(self, store: Store, workers: int = 4) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="applyflow-store")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._pool.submit(attr, *args, **kwargs).result()

        return call

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._store.close()


def _close(store: Store) -> None:
    store.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def store(url: str) -> Store:
    """One store per URL for the whole server, called from a fixed pool of threads."""
    return cast(Store, _StoreThreads(_factory(url)))


def clear_caches() -> None:
    """Forget every loaded data set (after a write, so every page shows it)."""
    st.cache_data.clear()


# --- overview --------------------------------------------------------------------------------
PERIODS = (("today", "Today"), ("week", "This week"), ("month", "This month"), ("total", "Total"))


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_applications(src: Source) -> pd.DataFrame:
    """Applications today / last 7 days / last 30 days / total, with each one's share of total."""
    stats = store(src.url).application_stats(now(src), src.tz)
    total = stats.total
    rows = []
    for key, label in PERIODS:
        count = getattr(stats, key)
        rows.append(
            {
                "period": key,
                "label": label,
                "count": count,
                "share": count / total if total else 0.0,
            }
        )
    return pd.DataFrame(rows)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_funnel(src: Source) -> pd.DataFrame:
    """Funnel stages in order (jobs that reached each), then rejected and discarded beside."""
    counts = store(src.url).status_counts()
    stages = funnel(counts)
    return pd.DataFrame(
        [{"stage": s, "jobs": n, "beside": s in FUNNEL_SIDE} for s, n in stages.items()]
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_weekly(src: Source, weeks: int = 12) -> pd.DataFrame:
    """Applications per local week (Monday start), oldest first."""
    rows = store(src.url).weekly_applications(now(src), src.tz, weeks=weeks)
    return pd.DataFrame(
        {
            "week": [w.week_start.astimezone(src.tz).date().isoformat() for w in rows],
            "applications": [w.count for w in rows],
        }
    )


# --- runs ------------------------------------------------------------------------------------
@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_runs(src: Source, limit: int = 20) -> pd.DataFrame:
    """Recent runs, newest first."""
    runs = store(src.url).list_runs(limit=limit)
    return pd.DataFrame(
        [
            {
                "run": r.id,
                "status": r.status.value,
                "started": r.started_at,
                "ended": r.ended_at,
                "model": r.model,
                "flow_run_id": r.flow_run_id,
            }
            for r in runs
        ],
        columns=["run", "status", "started", "ended", "model", "flow_run_id"],
    )


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_run(src: Source, run_id: str) -> Run | None:
    return store(src.url).get_run(run_id)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_progress(src: Source, run_id: str) -> pd.DataFrame:
    """One row per (job, layer) of a run, with the job's title and company."""
    s = store(src.url)
    records = s.list_progress(run_id)
    names: dict[str, str] = {}
    for job_id in dict.fromkeys(r.job_id for r in records):
        try:
            job = s.get_job(job_id)
            names[job_id] = f"{job.title} @ {job.company}"
        except JobNotFound:
            names[job_id] = job_id
    return pd.DataFrame(
        [
            {
                "job_id": r.job_id,
                "job": names[r.job_id],
                "layer": r.layer,
                "status": r.status.value,
                "duration_s": r.duration_s,
                "cost_usd": r.cost_usd,
                "error": r.error,
            }
            for r in records
        ],
        columns=["job_id", "job", "layer", "status", "duration_s", "cost_usd", "error"],
    )


# --- spend -----------------------------------------------------------------------------------
@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_budget(src: Source, _settings: Settings) -> pd.DataFrame:
    """Every budget scope: cap, spent, reserved, remaining, percent and state."""
    scopes = budget_summary(_settings, store(src.url), now(src))
    return pd.DataFrame(
        [s.model_dump() for s in scopes],
        columns=["kind", "key", "cap", "spent", "reserved", "remaining", "percent", "state"],
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_spend_series(src: Source, bucket: str) -> pd.DataFrame:
    """Spend per local day over the last 30 days, or per hour over the last 24 hours."""
    until = now(src)
    since = until - (timedelta(days=29) if bucket == "day" else timedelta(hours=23))
    rows = store(src.url).spend_series(bucket, since, until, src.tz)  # type: ignore[arg-type]
    fmt = "%Y-%m-%d" if bucket == "day" else "%Y-%m-%d %H:00"  # sorts as it reads
    return pd.DataFrame(
        {
            bucket: [b.start.astimezone(src.tz).strftime(fmt) for b in rows],
            "cost_usd": [b.cost_usd for b in rows],
            "calls": [b.calls for b in rows],
        }
    )


def _groups(groups: list[Any], key: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                key: g.key if g.key is not None else "(none)",
                "calls": g.calls,
                "input_tokens": g.input_tokens,
                "output_tokens": g.output_tokens,
                "cost_usd": g.cost_usd,
            }
            for g in groups
        ],
        columns=[key, "calls", "input_tokens", "output_tokens", "cost_usd"],
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_spend_by(src: Source, field: str) -> pd.DataFrame:
    """Spend grouped by provider, model or layer, most expensive first."""
    return _groups(store(src.url).spend_by(field), field)  # type: ignore[arg-type]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_expensive_jobs(src: Source, limit: int = 10) -> pd.DataFrame:
    """The jobs that cost most, with title and company."""
    s = store(src.url)
    df = _groups([g for g in s.spend_by("job_id", limit=limit + 1) if g.key][:limit], "job_id")
    titles, companies = [], []
    for job_id in df["job_id"]:
        try:
            job = s.get_job(job_id)
            titles.append(job.title)
            companies.append(job.company)
        except JobNotFound:
            titles.append("(deleted)")
            companies.append("")
    df.insert(1, "title", titles)
    df.insert(2, "company", companies)
    return df


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_forecast(src: Source) -> dict[str, float | int | None]:
    """Cost to process the ``new`` queue at the average recorded cost per job."""
    s = store(src.url)
    queue = s.status_counts().get(Status.NEW.value, 0)
    per_job = [g.cost_usd for g in s.spend_by("job_id") if g.key]
    average = sum(per_job) / len(per_job) if per_job else None
    return {
        "queue": queue,
        "jobs_costed": len(per_job),
        "average_usd": average,
        "forecast_usd": None if average is None else queue * average,
    }


# --- jobs ------------------------------------------------------------------------------------
@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_jobs(
    src: Source,
    statuses: tuple[str, ...] = (),
    min_fit: int | None = None,
    company: str | None = None,
    text: str | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Jobs matching the filters, newest-updated first."""
    jobs = store(src.url).list_jobs(
        status=[Status(s) for s in statuses] or None,
        min_fit=min_fit,
        company=company or None,
        text=text or None,
        limit=limit,
    )
    return pd.DataFrame(
        [
            {
                "id": j.id,
                "status": j.status.value,
                "fit": j.fit,
                "title": j.title,
                "company": j.company,
                "location": j.location,
                "cost_usd": j.cost_usd,
                "applied_at": j.applied_at,
                "updated_at": j.updated_at,
            }
            for j in jobs
        ],
        columns=[
            "id", "status", "fit", "title", "company", "location", "cost_usd", "applied_at",
            "updated_at",
        ],
    )  # fmt: skip


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_job(src: Source, job_id: str) -> Job | None:
    try:
        return store(src.url).get_job(job_id)
    except JobNotFound:
        return None


def mark_job(src: Source, job_id: str, status: Status) -> Job:
    """Change a job's status through the store (``InvalidTransition`` if not allowed)."""
    job = store(src.url).set_status(job_id, status, now(src))
    clear_caches()
    return job


# --- health ----------------------------------------------------------------------------------
def ping_store(src: Source) -> float:
    """Store round-trip in milliseconds, measured now (never cached)."""
    return store(src.url).ping()


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_alerts(src: Source, limit: int = 20) -> pd.DataFrame:
    """Latest alerts, newest first."""
    alerts = store(src.url).list_alerts(limit=limit)
    return pd.DataFrame(
        [{"at": a.at, "level": a.level, "kind": a.kind, "message": a.message} for a in alerts],
        columns=["at", "level", "kind", "message"],
    )


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_breakers(src: Source) -> pd.DataFrame:
    """Circuit breaker per provider, as last saved by the guards."""
    rows = store(src.url).breaker_states()
    return pd.DataFrame(
        [
            {
                "provider": b.provider,
                "state": b.state,
                "fail_count": b.fail_count,
                "opened_at": b.opened_at,
                "updated_at": b.updated_at,
            }
            for b in rows
        ],
        columns=["provider", "state", "fail_count", "opened_at", "updated_at"],
    )


def _providers(settings: Settings) -> list[str]:
    """Every provider the settings can call: the model, layer overrides and the fallback."""
    models = [settings.model, *settings.layer_models.values()]
    if settings.fallback_model:
        models.append(settings.fallback_model)
    return sorted({parse_model(m).provider for m in models})


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_providers(src: Source, _settings: Settings) -> pd.DataFrame:
    """Each provider's guards (breaker, rate-window remaining, budget) from the guards package.

    Raises ``ImportError`` or the guards' own error when that report is unavailable.
    """
    from guards.health import provider_health  # lazy: the dashboard works without it

    rows = provider_health(_settings, store(src.url), _providers(_settings))
    return pd.DataFrame([r.model_dump() if hasattr(r, "model_dump") else dict(r) for r in rows])


# --- Prefect ---------------------------------------------------------------------------------
def prefect_urls() -> tuple[str | None, str | None]:
    """(API URL, UI URL) from ``PREFECT_API_URL`` / ``PREFECT_UI_URL``; the UI URL is derived
    from the API URL by dropping ``/api`` when only the API is known."""
    api = os.environ.get("PREFECT_API_URL", "").strip().rstrip("/") or None
    ui = os.environ.get("PREFECT_UI_URL", "").strip().rstrip("/") or None
    if ui is None and api:
        ui = api.removesuffix("/api")
    return api, ui


def flow_run_url(flow_run_id: str | None) -> str | None:
    """The flow run's page in the Prefect UI, when both are known."""
    _, ui = prefect_urls()
    if not (ui and flow_run_id):
        return None
    return f"{ui}/runs/flow-run/{flow_run_id}"


@st.cache_data(ttl=10, show_spinner=False)
def prefect_status(api: str | None, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Whether the Prefect API answers ``/health`` within a short timeout, and why not."""
    if not api:
        return False, "PREFECT_API_URL is not set (flow runs use a temporary local API)"
    import httpx

    host = urlsplit(api).netloc or api
    try:
        response = httpx.get(f"{api}/health", timeout=timeout_s)
    except httpx.HTTPError as exc:
        return False, f"{host} unreachable ({type(exc).__name__})"
    if response.status_code != 200:
        return False, f"{host} answered HTTP {response.status_code}"
    return True, f"{host} answered in {response.elapsed.total_seconds() * 1000:.0f} ms"
