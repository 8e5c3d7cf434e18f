"""`applyflow demo`: ingest samples/, process them offline, show results and a cost forecast."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from applyflow.cli._app import app, console, handle_errors
from applyflow.cli._preflight import check_run
from applyflow.cli._session import settings, store_session
from applyflow.cli.pipeline import let_prefect_record, load_flows, print_ingest, run_exit_code
from applyflow.models import Job
from applyflow.modelspec import OFFLINE
from applyflow.settings import Settings

if TYPE_CHECKING:
    from flows.results import RunSummary

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"
DEMO_FORECAST_MODEL = "openai:gpt-4o-mini"


def _demo_jobs(jobs: list[Job]) -> None:
    table = Table(title="sample jobs, best fit first")
    table.add_column("fit", justify="right", min_width=3)
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=30)
    table.add_column("company", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("status", min_width=6)
    table.add_column("files", justify="right", min_width=5)
    for job in sorted(jobs, key=lambda j: -(j.fit if j.fit is not None else -1)):
        published = job.outputs.get("publish")
        files = len(published.output.get("files", [])) if published else 0
        fit = str(job.fit) if job.fit is not None else "-"
        table.add_row(fit, job.title, job.company, job.status.value, str(files))
    console.print(table)


def _demo_forecast(cfg: Settings, summary: RunSummary, ids: list[str], price_as: str) -> None:
    """This run's spend, and what its calls would cost on ``price_as``."""
    with store_session(cfg) as store:
        spend = store.usage_total()
        used = [store.usage_total(job_id=job_id) for job_id in ids]
    console.print(
        f"this run: {summary.calls} offline call(s), "
        f"{summary.input_tokens}+{summary.output_tokens} tokens, "
        f"spend ${summary.spend_usd:.4f}; all runs so far: ${spend.cost_usd:.4f}"
    )
    if summary.calls:
        forecast, basis = summary.forecast_usd, "these calls"
    else:
        # Everything was cached: price the offline calls already recorded for these jobs.
        from guards.pricing import cost_usd

        tokens_in, tokens_out = (
            sum(u.input_tokens for u in used),
            sum(u.output_tokens for u in used),
        )
        forecast = cost_usd(cfg, price_as, tokens_in, tokens_out)
        basis = f"the {sum(u.calls for u in used)} recorded calls of these jobs (all cached now)"
    console.print(
        f"{basis} on [bold]{price_as}[/] would cost about [bold]${forecast:.4f}[/] "
        "(offline token counts are approximate)"
    )
    console.print(
        f"files per job under [bold]{cfg.output_dir}/<company>/<title>-<id>/[/]: "
        "cv.pdf, cv.docx, cover_letter.pdf, cover_letter.docx (to send), their .md sources, "
        "and dossier.md (fit, gaps, claims check, keyword coverage: for you)"
    )


def _prefect_ui() -> str:
    """Where the demo's flow runs are: the API it used, and how to stop the local server."""
    from prefect.settings import PREFECT_API_URL

    from applyflow.cli.local_server import find_server, state_dir

    url = PREFECT_API_URL.value()
    if not url:
        return "Prefect UI: `applyflow server start`, then run the demo again to see its runs"
    local, _ = find_server(state_dir())
    stop = "; `applyflow server stop` stops it" if local and local.api_url == url else ""
    return f"Prefect UI: {url.removesuffix('/api')}   (the demo's flow runs{stop})"


@app.command()
@handle_errors
def demo(
    price_as: Annotated[
        str, typer.Option("--price-as", help="Real model to forecast the cost on.")
    ] = DEMO_FORECAST_MODEL,
) -> None:
    """Ingest samples/, process them with the offline model, show results and a cost forecast."""
    cfg = settings()
    check_run(cfg, profile=None, model=OFFLINE, dry_run=False, price_as=price_as)
    ingest_flow, process_jobs = load_flows()

    console.rule("1. ingest samples/")
    report = ingest_flow(sources=[str(SAMPLES_DIR)])
    print_ingest(report)
    console.rule("2. run the pipeline with the offline model")
    ids = report.job_ids
    summary = process_jobs(limit=max(1, len(ids)), job_ids=ids, model=OFFLINE, price_as=price_as)
    let_prefect_record([report.flow_run_id, summary.flow_run_id])
    with store_session(cfg) as store:
        _demo_jobs([store.get_job(job_id) for job_id in ids])
    console.rule("3. spend and forecast")
    _demo_forecast(cfg, summary, ids, price_as)
    console.rule("4. look around")
    console.print("dashboard:  make dashboard   (then open http://127.0.0.1:8501)")
    console.print(_prefect_ui())
    console.print("progress:   applyflow status --follow")
    raise typer.Exit(run_exit_code(summary))
