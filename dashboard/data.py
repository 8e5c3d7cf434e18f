"""What the dashboard shows, read through the store contract: one cached loader per data set.

Every loader takes a ``Source`` (store URL, time zone, clock, settings digest) as its cache key
and returns a pandas DataFrame (or a model for single records).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from applyflow.errors import JobNotFound
from applyflow.models import TOKEN_CLASSES, Job, Run, Status
from applyflow.settings import Settings
from applyflow.spend import budget_summary
from applyflow.stats import FUNNEL_SIDE, funnel
from applyflow.tracking import followups
from dashboard.forecast import default_forecast_model, load_forecast, priced_models
from dashboard.guards_table import guards_rows, load_run_guards, own_guards
from dashboard.live import LIVE_TTL_S, load_live_run, load_runs, wait_text
from dashboard.prefect_api import (
    FLOW_RUN_NAME_PATTERN,
    flow_run_link,
    flow_run_url,
    prefect_status,
    prefect_urls,
)
from dashboard.source import NOW_ENV, RUNTIME_KEY, Source, clear_caches, context, now, store

if TYPE_CHECKING:
    from guards.health import ProviderHealth

__all__ = [
    "NOW_ENV",
    "RUNTIME_KEY",
    "Source",
    "context",
    "now",
    "store",
    "clear_caches",
    "load_applications",
    "load_funnel",
    "load_weekly",
    "load_followups",
    "load_runs",
    "load_live_run",
    "wait_text",
    "load_run",
    "load_progress",
    "load_budget",
    "load_spend_series",
    "load_spend_by",
    "load_token_classes",
    "load_expensive_jobs",
    "load_forecast",
    "priced_models",
    "default_forecast_model",
    "load_jobs",
    "load_job",
    "load_alerts",
    "load_breakers",
    "ping_store",
    "mark_job",
    "load_providers",
    "load_run_guards",
    "own_guards",
    "guards_rows",
    "prefect_urls",
    "prefect_status",
    "flow_run_url",
    "FLOW_RUN_NAME_PATTERN",
    "flow_run_link",
]

# Live pages (a running run) re-read often (LIVE_TTL_S); the rest can be a little stale.
TTL_S = 30


# --- overview --------------------------------------------------------------------------------
PERIODS = (("today", "Today"), ("week", "This week"), ("month", "This month"), ("total", "Total"))


# Each count against the period before it: (how far back, what the delta is against).
TRENDS = {
    "today": (timedelta(days=1), "vs same time yesterday"),
    "week": (timedelta(days=7), "vs the 7 days before"),
    "month": (timedelta(days=30), "vs the 30 days before"),
}


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_applications(src: Source) -> pd.DataFrame:
    """Applications today / last 7 days / last 30 days / total, each with the same window one
    period earlier (the total: how many of it came in the last 30 days)."""
    s, at = store(src.url), now(src)
    stats = s.application_stats(at, src.tz)
    before = {k: s.application_stats(at - back, src.tz) for k, (back, _) in TRENDS.items()}
    rows = []
    for key, label in PERIODS:
        count = getattr(stats, key)
        if key in TRENDS:
            delta, versus = count - getattr(before[key], key), TRENDS[key][1]
        else:
            delta, versus = stats.month, "in the last 30 days"
        rows.append(
            {"period": key, "label": label, "count": count, "delta": delta, "versus": versus}
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


FOLLOWUP_COLUMNS = [
    "id", "company", "title", "status", "applied_at", "last_change", "quiet_days", "apply_url",
]  # fmt: skip


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_followups(src: Source, days: int, limit: int = 100) -> pd.DataFrame:
    """Applications with no status change for ``days`` days (``APPLYFLOW_FOLLOWUP_DAYS``), the
    quietest first: the Overview's follow-up count is its length."""
    due = followups(store(src.url), now(src), days, limit=limit)
    rows = [item.model_dump(include=set(FOLLOWUP_COLUMNS)) for item in due]
    for row in rows:
        row["status"] = row["status"].value
    return pd.DataFrame(rows, columns=FOLLOWUP_COLUMNS)


# --- runs ------------------------------------------------------------------------------------
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
        [s.model_dump(mode="json") for s in scopes],
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
def load_token_classes(src: Source) -> pd.DataFrame:
    """Per model that had any, the tokens billed at their own price (cache reads and writes,
    reasoning, audio) beside the input and output totals they are part of."""
    rows = [
        {
            "model": g.key or "(none)",
            "input_tokens": g.input_tokens,
            "output_tokens": g.output_tokens,
            "cached_share": g.cache_read_tokens / g.input_tokens if g.input_tokens else 0.0,
            **{name: getattr(g, name) for name in TOKEN_CLASSES},
        }
        for g in store(src.url).spend_by("model")
        if any(getattr(g, name) for name in TOKEN_CLASSES)
    ]
    columns = ["model", "input_tokens", "output_tokens", "cached_share", *TOKEN_CLASSES]
    return pd.DataFrame(rows, columns=columns)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def load_expensive_jobs(src: Source, limit: int = 10) -> pd.DataFrame:
    """The jobs that cost most (only those that cost something), with title and company."""
    s = store(src.url)
    costly = [g for g in s.spend_by("job_id", limit=limit + 1) if g.key and g.cost_usd > 0]
    df = _groups(costly[:limit], "job_id")
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
                "location": j.location or "",  # shown blank, not "None"
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


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_providers(src: Source, _settings: Settings) -> pd.DataFrame:
    """Each provider's guards (breaker, rate-window remaining, budget) from the guards package.

    Raises ``ImportError`` or the guards' own error when that report is unavailable.
    """
    from guards.health import provider_health  # lazy: the dashboard works without it

    rows = provider_health(_settings, store(src.url))
    return pd.DataFrame([_provider_row(r) for r in rows], columns=PROVIDER_COLUMNS)


PROVIDER_COLUMNS = ["provider", "breaker", "failures", "retry_in_s", "rate_windows", "budget"]


def _provider_row(report: ProviderHealth) -> dict[str, Any]:
    """One provider's guard report as a flat table row."""
    rate = "; ".join(
        f"{w.limit}: {w.remaining} left"
        + (f", frees in {w.reset_in_s:.0f} s" if w.reset_in_s else "")
        for w in report.rate
    )
    return {
        "provider": report.provider,
        "breaker": report.breaker.state,
        "failures": report.breaker.fail_count,
        "retry_in_s": report.breaker.retry_in_s or None,
        "rate_windows": rate or "no limit set",
        "budget": f"{report.budget.state} ({report.budget.scope})",
    }
