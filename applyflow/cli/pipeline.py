"""Pipeline commands: ingest, run (status is in ``status.py``, demo in ``demo.py``).

The CLI is the composition root (see pyproject's import contracts): it may start the flows.
They are imported inside each command, so `--help` never loads Prefect.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from applyflow.cli._app import (
    EXIT_ERROR,
    EXIT_USAGE,
    JsonFlag,
    app,
    console,
    fail,
    handle_errors,
    print_json,
)
from applyflow.cli._preflight import check_run
from applyflow.cli._preflight import report as report_preflight
from applyflow.cli._session import settings, store_session
from applyflow.cli.console_logs import quiet_console
from applyflow.models import (
    APPLICATION_STATUSES,
    RunStatus,
    Status,
)
from applyflow.preflight import preflight

if TYPE_CHECKING:
    from flows.results import IngestReport, JobOutcome, RunSummary


def load_flows() -> tuple[Any, Any]:
    """The ingest and pipeline flows, imported with Prefect's chatter down to warnings."""
    # Set before Prefect first loads; PREFECT_LOGGING_LEVEL=INFO brings the run logs back.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from applyflow.cli.local_server import use_prefect_api

    use_prefect_api(settings())  # the local server, unless an API is configured
    from flows.ingest import ingest as ingest_flow
    from flows.pipeline import process_jobs

    quiet_console()  # a failed layer is one line on the console; the UI keeps the traceback
    return ingest_flow, process_jobs


def let_prefect_record(flow_run_ids: list[str], timeout_s: float = 15.0) -> None:
    """With Prefect's temporary local API, wait until it has recorded this command's task runs.

    That API stops when the command exits; stopping it mid-write loses task runs and prints
    errors. A configured server (PREFECT_API_URL) records on its own time.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL

    ids = [uuid.UUID(i) for i in flow_run_ids if i]
    if PREFECT_API_URL.value() or not ids:
        return
    where = FlowRunFilter(id=FlowRunFilterId(any_=ids))
    deadline, previous = time.monotonic() + timeout_s, None
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs: list[Any] = []
            while len(page := client.read_task_runs(flow_run_filter=where, offset=len(runs))):
                runs.extend(page)
            seen = sorted((str(r.id), str(r.state_type)) for r in runs)
            if seen == previous and all(r.state is not None and r.state.is_final() for r in runs):
                return
            previous = seen
            time.sleep(0.5)


def print_ingest(report: IngestReport) -> None:
    console.print(
        f"inserted [bold]{report.inserted}[/]  linked [bold]{report.linked}[/]  "
        f"updated [bold]{report.updated}[/] (requeued [bold]{report.requeued}[/])  "
        f"unchanged [bold]{report.unchanged}[/]  rejected [bold]{report.rejected}[/]"
    )
    if report.rejections:
        table = Table(title="rejected records")
        for col in ("source", "where", "reason"):
            table.add_column(col, overflow="fold")
        for item in report.rejections:
            table.add_row(item.source, item.where or "", item.reason)
        console.print(table)


@app.command()
@handle_errors
def ingest(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help=(
                "Files (.json/.jsonl/.csv or a folder), greenhouse:BOARD, lever:COMPANY, "
                "ashby:BOARD, smartrecruiters:COMPANY, recruitee:COMPANY, workable:ACCOUNT."
            )
        ),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Job-board API address (tests, proxies).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ingest postings; print inserted/linked/updated/requeued/unchanged/rejected and every
    rejection.

    The same posting on another source is linked to its job (another source, not another
    job); a changed posting updates its job and sends a finished one back to the queue.
    """
    report_preflight(preflight(settings(), sources=sources, needs_sources=True), as_json)
    ingest_flow, _ = load_flows()
    report = ingest_flow(sources=sources or None, base_url=base_url)
    let_prefect_record([report.flow_run_id])
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        print_ingest(report)
    if any(entry.error for entry in report.sources):
        raise typer.Exit(1)


def _jobs_table(jobs: list[JobOutcome], title: str, forecast: bool) -> Table:
    table = Table(title=title)
    columns = ["job", "title", "company", "fit", "status", "calls", "cost"]
    for col in [*columns, *(["forecast"] if forecast else []), "error"]:
        table.add_column(col, no_wrap=col in ("job", "fit", "status"), overflow="fold")
    for job in jobs:
        fit = "" if job.fit is None else str(job.fit)
        cells = [job.id, job.title, job.company, fit, job.status, str(job.calls)]
        cells.append(f"${job.cost_usd:.4f}")
        if forecast:
            cells.append("" if job.forecast_usd is None else f"${job.forecast_usd:.4f}")
        table.add_row(*cells, job.error or "")
    return table


def _print_summary(summary: RunSummary) -> None:
    forecast = summary.forecast_usd is not None
    if summary.dry_run:
        console.print(
            "[bold]dry run[/]: a forecast; no job, output, file, budget or usage row changed"
        )
    title = f"{'dry run' if summary.dry_run else 'run'} {summary.run_id}"
    if summary.jobs:
        console.print(_jobs_table(summary.jobs, title, forecast))
    else:
        console.print("No queued jobs to process. Ingest some with `applyflow ingest SOURCE`.")
    counts = ", ".join(f"{n} {s}" for s, n in summary.counts.items() if n)
    would = " (would end so)" if summary.dry_run else ""
    calls = "offline call(s) standing in" if summary.dry_run else "model call(s)"
    console.print(
        f"{title} {summary.status}: {counts or 'nothing to do'}{would}; "
        f"{summary.calls} {calls}, {summary.input_tokens}+{summary.output_tokens} "
        f"tokens, spend ${summary.spend_usd:.4f}"
    )
    if forecast:
        basis = summary.price_as or f"the run's models ({summary.model})"
        console.print(
            f"forecast on {basis}: ${summary.forecast_usd:.4f} for these calls "
            "(offline token counts are approximate)"
        )
    if skipped := summary.counts.get("skipped"):
        console.print(
            f"{skipped} job(s) below the minimum fit {summary.min_fit} stopped after score: "
            f"generate and publish not run, saving about ${summary.saved_usd:.4f}"
        )
    for job in summary.jobs:
        if job.unsupported_claims:
            claims = "; ".join(escape(str(c)) for c in job.unsupported_claims)
            dossier = next((f for f in job.files if f.endswith("dossier.md")), "its dossier")
            console.print(
                f"[yellow]{job.id} needs review:[/] not in the profile: {claims}. "
                f"Read {escape(dossier)}, then `applyflow mark {job.id} ready`.",
                soft_wrap=True,
            )
    if summary.stop_reason:
        console.print(f"[yellow]stopped early:[/] {summary.stop_reason}")


# A job that ended any other way, or a run that stopped early, makes `run` exit 1.
FINISHED_OK = frozenset({Status.READY, Status.SKIPPED, Status.NEEDS_REVIEW})


def run_exit_code(summary: RunSummary) -> int:
    """0 when every job the run took ended ready, skipped or needs_review; 1 when any other
    (failed, over budget, deferred) or the run stopped on a cap, limit or breaker."""
    stopped = summary.status != RunStatus.COMPLETED
    return EXIT_ERROR if stopped or not all(_ended_ok(j) for j in summary.jobs) else 0


def _ended_ok(job: JobOutcome) -> bool:
    # An application regenerated with --job --force keeps its status: fine unless it failed.
    return job.status in FINISHED_OK or (job.status in APPLICATION_STATUSES and not job.error)


def _check_job_ids(job_ids: list[str], force: bool) -> None:
    """Unknown ids (or an application without --force): one line, exit 2, before Prefect."""
    from applyflow.errors import InputError
    from flows.selection import check_job_ids

    with store_session() as store:
        try:
            check_job_ids(store, job_ids, force)
        except InputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None


@app.command()
@handle_errors
def run(
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many jobs.")] = 20,
    model: Annotated[
        str | None, typer.Option("--model", help="provider:model for every layer.")
    ] = None,
    job: Annotated[
        list[str] | None,
        typer.Option(
            "--job",
            help=(
                "Only this job id (repeat), whatever its status; an applied-or-later job "
                "needs --force and keeps its status."
            ),
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo layers already done.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help=(
                "Forecast only: change no job, file, budget or usage row. The same jobs run "
                "on a scratch copy with the offline model, priced as --price-as (else as the "
                "run's models)."
            ),
        ),
    ] = False,
    price_as: Annotated[
        str | None, typer.Option("--price-as", help="Forecast the cost on this model.")
    ] = None,
    min_fit: Annotated[
        int | None,
        typer.Option(
            "--min-fit",
            min=0,
            max=100,
            help=(
                "Jobs scoring below this fit stop after score as skipped, with no documents "
                "(default APPLYFLOW_MIN_FIT, 50; 0: off; --job ids always go on)."
            ),
        ),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="Candidate profile to use (default: APPLYFLOW_PROFILE)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run queued jobs (or the --job ids) through the pipeline and print a summary.

    Exit status: 0 when every job ended ready, skipped or needs_review; 1 when a job failed or
    the run stopped on a cap, limit or breaker; 2 for invalid settings or arguments.
    """
    cfg = settings()
    # Before Prefect loads: the profile, prices and keys, one line per problem, exit 2.
    check_run(cfg, profile=profile, model=model, dry_run=dry_run, price_as=price_as,
              as_json=as_json)  # fmt: skip
    if job:
        _check_job_ids(job, force)
    _, process_jobs = load_flows()
    summary = process_jobs(
        limit=limit,
        model=model,
        job_ids=job or None,
        force=force,
        dry_run=dry_run,
        price_as=price_as,
        min_fit=min_fit,
        profile=str(profile) if profile else None,
    )
    let_prefect_record([summary.flow_run_id])
    if as_json:
        print_json(summary.model_dump(mode="json"))
    else:
        _print_summary(summary)
    raise typer.Exit(run_exit_code(summary))
