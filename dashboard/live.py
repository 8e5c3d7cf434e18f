"""Runs as the Overview and Runs pages summarise them: jobs done of total, spend, duration and
what a live run is waiting on. Loaders are cached like those in ``dashboard/data.py``, which
re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import pandas as pd
import streamlit as st

from applyflow.models import ProgressRecord, ProgressStatus, Run, RunStatus, RunWait
from applyflow.money import format_usd
from applyflow.settings import LAYERS, Settings
from applyflow.store.runs import sweep_dead_runs
from dashboard.source import Source, now, store

__all__ = [
    "FINISHED",
    "LIVE_TTL_S",
    "LiveRun",
    "RUN_COLUMNS",
    "load_live_run",
    "load_runs",
    "wait_text",
]

# Live pages (a running run) re-read often.
LIVE_TTL_S = 2
FINISHED = frozenset(
    {ProgressStatus.COMPLETED, ProgressStatus.CACHED, ProgressStatus.FAILED, ProgressStatus.SKIPPED}
)
_ENDED = frozenset({ProgressStatus.FAILED, ProgressStatus.SKIPPED})
WAIT_WORDS = {"rate": "a rate window", "breaker": "an open breaker", "slot": "a Prefect slot"}


def wait_text(wait: RunWait, at: datetime) -> str:
    """``waiting on a rate window (openai 60 requests/minute) for 42 s``."""
    seconds = max(0, int((at - wait.since).total_seconds()))
    took = f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"
    what = WAIT_WORDS.get(wait.kind, wait.kind)
    detail = f" ({wait.detail})" if wait.detail else ""
    return f"waiting on {what}{detail} for {took}"


def _jobs_done(rows: list[ProgressRecord]) -> tuple[int, int]:
    """(jobs whose layers are all finished, jobs) of a run's progress rows."""
    by_job: dict[str, list[ProgressStatus]] = {}
    for row in rows:
        by_job.setdefault(row.job_id, []).append(row.status)
    done = sum(
        1
        for states in by_job.values()
        if all(s in FINISHED for s in states)
        and (len(states) >= len(LAYERS) or any(s in _ENDED for s in states))
    )
    return done, len(by_job)


@dataclass(frozen=True)
class LiveRun:
    """The run in progress, as the Overview shows it."""

    id: str
    started_at: datetime
    jobs: int
    jobs_done: int
    spend_usd: float
    waiting: RunWait | None
    flow_run_name: str | None


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_live_run(src: Source, _settings: Settings) -> LiveRun | None:
    """The newest running run (runs whose process died are marked crashed first), or None."""
    s = store(src.url)
    sweep_dead_runs(s, now(src), _settings.claim_lease_s)
    run = next((r for r in s.list_runs(limit=20) if r.status == RunStatus.RUNNING), None)
    if run is None:
        return None
    rows = s.list_progress(run.id)
    done, jobs = _jobs_done(rows)
    return LiveRun(
        id=run.id,
        started_at=run.started_at,
        jobs=jobs,
        jobs_done=done,
        spend_usd=sum(r.cost_usd for r in rows),
        waiting=run.waiting,
        flow_run_name=run.flow_run_name,
    )


RUN_COLUMNS = [
    "run", "status", "started", "ended", "duration_s", "jobs", "ready", "failed", "skipped",
    "spend_usd",
    "model", "note", "flow_run_id", "flow_run_name",
]  # fmt: skip


class _Counts(NamedTuple):
    jobs: int
    ready: int
    failed: int
    skipped: int  # below the minimum fit (counted from a run's summary only)
    spend_usd: float


def _summary_counts(run: Run) -> _Counts | None:
    """A finished run's counts, from the summary it ended with (None: it has none)."""
    counts = run.summary.get("counts")
    if not isinstance(counts, dict):
        return None
    return _Counts(
        sum(counts.values()),
        counts.get("ready", 0),
        counts.get("failed", 0),
        counts.get("skipped", 0),
        float(run.summary.get("spend_usd") or 0.0),
    )


def _progress_counts(rows: list[ProgressRecord]) -> _Counts:
    """A live (or crashed) run's counts so far, from its progress rows."""
    finished: dict[str, int] = {}
    for r in rows:
        if r.status in (ProgressStatus.COMPLETED, ProgressStatus.CACHED):
            finished[r.job_id] = finished.get(r.job_id, 0) + 1
    return _Counts(
        len({r.job_id for r in rows}),
        sum(1 for n in finished.values() if n >= len(LAYERS)),
        len({r.job_id for r in rows if r.status == ProgressStatus.FAILED}),
        0,  # a skipped layer may be a failure's or a lost claim's: only the summary knows
        sum(r.cost_usd for r in rows),
    )


def _note(run: Run, at: datetime) -> str | None:
    """What a live run waits on; why a run stopped or failed; a dry run and its forecast."""
    notes = []
    if run.params.get("dry_run"):
        forecast, model = run.summary.get("forecast_usd"), run.params.get("price_as")
        priced = f" · forecast {format_usd(forecast)} on {model}" if forecast is not None else ""
        notes.append(f"dry run (no spend){priced}")
    if run.status == RunStatus.RUNNING:
        if run.waiting:
            notes.append(wait_text(run.waiting, at))
    elif reason := run.summary.get("stop_reason") or run.summary.get("error"):
        notes.append(str(reason))
    return "; ".join(notes) or None


def _row(run: Run, counts: _Counts, at: datetime) -> dict[str, object]:
    ended = run.ended_at or (at if run.status == RunStatus.RUNNING else None)
    return {
        "run": run.id,
        "status": run.status.value,
        "started": run.started_at,
        "ended": run.ended_at,
        "duration_s": (ended - run.started_at).total_seconds() if ended else None,
        **counts._asdict(),
        "model": run.model,
        "note": _note(run, at),
        "flow_run_id": run.flow_run_id,
        "flow_run_name": run.flow_run_name,
    }


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_runs(src: Source, _settings: Settings, limit: int = 20) -> pd.DataFrame:
    """Recent runs, newest first (runs whose process died marked crashed first), with jobs,
    ready, failed, spend and duration."""
    s = store(src.url)
    at = now(src)
    sweep_dead_runs(s, at, _settings.claim_lease_s)
    rows = []
    for run in s.list_runs(limit=limit):
        counts = _summary_counts(run) or _progress_counts(s.list_progress(run.id))
        rows.append(_row(run, counts, at))
    # A blank cell, not "None", where a run has no note or Prefect run.
    blank = {"note": "", "flow_run_id": "", "flow_run_name": ""}
    return pd.DataFrame(rows, columns=RUN_COLUMNS).fillna(blank)
