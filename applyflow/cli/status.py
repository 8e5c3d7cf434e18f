"""`applyflow status`: a run's per-job, per-layer progress, once or followed until it ends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from applyflow.cli._app import JsonFlag, app, console, fail, handle_errors, print_json
from applyflow.cli._session import settings, store_session
from applyflow.models import Job, ProgressRecord, ProgressStatus, Run, RunStatus
from applyflow.runtime import current_runtime
from applyflow.settings import LAYERS
from applyflow.store.runs import sweep_dead_runs

FOLLOW_POLL_S = 1.0
# A run with every layer finished records its end within moments; longer means it died.
FINISHED_GRACE_S = 10.0
_GLYPHS = {
    ProgressStatus.PENDING: "[dim]·[/]",
    ProgressStatus.RUNNING: "[yellow]▶[/]",
    ProgressStatus.COMPLETED: "[green]✓[/]",
    ProgressStatus.CACHED: "[cyan]=[/]",
    ProgressStatus.FAILED: "[red]✗[/]",
    ProgressStatus.SKIPPED: "[dim]-[/]",
}
_FINISHED = {s for s in ProgressStatus if s not in (ProgressStatus.PENDING, ProgressStatus.RUNNING)}


def _progress_view(run: Run, rows: list[ProgressRecord], jobs: dict[str, Job]) -> Group:
    """One line per job: a bar of layers finished, then each layer's state; then each job's
    claims that need review."""
    names = {job_id: f"{job.title} @ {job.company}" for job_id, job in jobs.items()}
    by_job: dict[str, dict[str, ProgressRecord]] = {}
    for row in rows:
        by_job.setdefault(row.job_id, {})[row.layer] = row
    table = Table(box=None, pad_edge=False)
    table.add_column("job", no_wrap=True, overflow="ellipsis", min_width=16, max_width=30)
    table.add_column("progress", no_wrap=True, min_width=12)
    table.add_column("", justify="right", no_wrap=True, min_width=3)
    for name in LAYERS:  # extract research score generate publish -> ext res sco gen pub
        table.add_column(name[:3], justify="center", no_wrap=True, min_width=3)
    for job_id, layers in by_job.items():
        done = sum(1 for r in layers.values() if r.status in _FINISHED)
        marks = [_GLYPHS[layers[n].status] if n in layers else "" for n in LAYERS]
        bar = ProgressBar(total=len(LAYERS), completed=done, width=12)
        label = f"{names.get(job_id, '')} [dim]{job_id}[/]"
        table.add_row(label, bar, f"{done}/{len(LAYERS)}", *marks)
    cost = sum(r.cost_usd for r in rows)
    ended = f", ended {run.ended_at:%H:%M:%S}" if run.ended_at else ""
    kind = "dry run" if run.dry_run else "run"
    head = (
        f"{kind} [bold]{run.id}[/] {run.status.value} (model {run.model}, started "
        f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC{ended}); layer cost ${cost:.4f}"
    )
    if run.profile:
        head += f"\nprofile {escape(run.profile.path)} (sha256 {run.profile.sha256[:12]})"
    legend = (
        "[dim]ext/res/sco/gen/pub = extract/research/score/generate/publish; "
        "✓ done  = cached  ▶ running  · pending  ✗ failed  - skipped[/]"
    )
    failed = [r for r in rows if r.status == ProgressStatus.FAILED]
    errors = [f"[red]{r.job_id} {r.layer}:[/] {r.error}" for r in failed]
    review = [
        f"[yellow]{job_id} needs review:[/] not in the profile: "
        + "; ".join(escape(str(c)) for c in job.unsupported_claims)
        for job_id, job in jobs.items()
        if job.unsupported_claims
    ]
    return Group(head, table, legend, *errors, *review)


def _load(run_id: str | None) -> tuple[Run, list[ProgressRecord], dict[str, Job]]:
    with store_session() as store:
        sweep_dead_runs(store, current_runtime().clock(), settings().claim_lease_s)
        found = store.get_run(run_id) if run_id else next(iter(store.list_runs(1)), None)
        if found is None:
            raise fail(
                f"no run {run_id!r}" if run_id else "no runs yet; start one with `applyflow run`"
            )
        rows = store.list_progress(found.id)
        jobs = {job_id: store.get_job(job_id) for job_id in dict.fromkeys(r.job_id for r in rows)}
        return found, rows, jobs


@app.command()
@handle_errors
def status(
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the latest run).")] = None,
    as_json: JsonFlag = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Refresh until the run ends.")
    ] = False,
) -> None:
    """Per-job, per-layer progress of a run."""
    run_, rows, jobs = _load(run_id)
    if as_json:
        from applyflow.cli.core import job_review

        print_json(
            {
                "run": run_.model_dump(mode="json"),
                "progress": [r.model_dump(mode="json") for r in rows],
                "jobs": {
                    job_id: {"status": job.status.value, **job_review(job)}
                    for job_id, job in jobs.items()
                },
            }
        )
        return
    if not follow:
        console.print(_progress_view(run_, rows, jobs))
        return
    why = _follow(run_, rows, jobs, settings().claim_lease_s)
    if why:
        console.print(f"[yellow]stopped following:[/] {why}", soft_wrap=True)


def _last_change(run_: Run, rows: list[ProgressRecord]) -> datetime:
    return max([run_.started_at, *(r.updated_at for r in rows)])


def _follow(
    run_: Run, rows: list[ProgressRecord], jobs: dict[str, Job], stale_s: float
) -> str | None:
    """Redraw until the run ends (None), crashes or looks dead (why it stopped following).

    Each redraw reads the store through ``_load``, which marks a run with no heartbeat for a
    claim lease ``crashed``; a run whose layers all finished but that never ended is given up
    on sooner.
    """
    runtime = current_runtime()
    with Live(_progress_view(run_, rows, jobs), console=console, auto_refresh=False) as live:
        while run_.status == RunStatus.RUNNING:
            quiet_s = (runtime.clock() - _last_change(run_, rows)).total_seconds()
            if rows and all(r.status in _FINISHED for r in rows) and quiet_s > FINISHED_GRACE_S:
                return (
                    f"every layer of run {run_.id} has finished but the run is still marked "
                    "running; its process probably died"
                )
            runtime.sleep(FOLLOW_POLL_S)  # polling the store is how --follow sees other processes
            run_, rows, jobs = _load(run_.id)
            live.update(_progress_view(run_, rows, jobs), refresh=True)
    if run_.status == RunStatus.CRASHED:
        return (
            f"run {run_.id} crashed: its process gave no sign of life for over {stale_s:g}s "
            "(APPLYFLOW_CLAIM_LEASE_S) and never ended it"
        )
    return None
