"""Core commands: config, jobs, mark, stats, health."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from applyflow.cli._app import JsonFlag, app, console, fail, handle_errors, print_json
from applyflow.cli._session import settings, store_session
from applyflow.cli.tracking import parse_when
from applyflow.errors import ApplyflowError
from applyflow.models import Job, Status, parse_status, utcnow
from applyflow.settings import env_name
from applyflow.stats import funnel
from applyflow.store import open_store
from applyflow.store.jobs import NOTE_MAX

if TYPE_CHECKING:
    from guards.health import ProviderHealth


@app.command()
def config(as_json: JsonFlag = False) -> None:
    """Show the effective settings (secrets masked)."""
    cfg = settings()
    values = cfg.masked()
    if as_json:
        print_json(values)
        return
    table = Table(title="applyflow settings", show_lines=False)
    table.add_column("variable", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in values.items():
        table.add_row(env_name(name), "" if value is None else str(value))
    console.print(table)


def job_review(job: Job) -> dict:
    """What a reviewer (and the dashboard) needs: unsupported claims, keyword coverage, files."""
    coverage = job.coverage
    return {
        "unsupported_claims": [c.model_dump() for c in job.unsupported_claims],
        "claims_checked": job.verification.checked if job.verification else None,
        "coverage": None
        if coverage is None
        else {**coverage.model_dump(), "percent": coverage.percent},
        "files": job.files,
        "profile": job.profile.model_dump() if job.profile else None,
    }


def _job_row(job: Job) -> dict:
    return {
        "id": job.id,
        "status": job.status.value,
        "fit": job.fit,
        "title": job.title,
        "company": job.company,
        "location": job.location,
        "remote_policy": job.remote_policy.value if job.remote_policy else None,
        "compensation": job.compensation,
        "url": job.url,
        "apply_url": job.apply_url,
        "posted_at": job.posted_at.isoformat() if job.posted_at else None,
        "cost_usd": round(job.cost_usd, 6),
        "applied_at": job.applied_at.isoformat() if job.applied_at else None,
        "updated_at": job.updated_at.isoformat(),
        "error": job.error,
        # Every posting of the job (one per board it was found on) and how its status went.
        "sources": [s.model_dump(mode="json", exclude={"content_hash"}) for s in job.sources],
        "history": [h.model_dump(mode="json") for h in job.history],
        **job_review(job),
    }


def _parse_status_option(value: str | None) -> Status | None:
    if value is None:
        return None
    try:
        return parse_status(value)
    except ValueError as exc:
        raise fail(str(exc)) from None


@app.command()
@handle_errors
def jobs(
    status: Annotated[str | None, typer.Option("--status", "-s", help="Only this status.")] = None,
    company: Annotated[str | None, typer.Option(help="Company contains this text.")] = None,
    min_fit: Annotated[int | None, typer.Option(help="Fit at least this (0-100).")] = None,
    search: Annotated[str | None, typer.Option("--search", "-q", help="Text search.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List stored jobs, newest first."""
    wanted = _parse_status_option(status)
    with store_session() as store:
        found = store.list_jobs(
            status=wanted, company=company, min_fit=min_fit, text=search, limit=limit
        )
    rows = [_job_row(job) for job in found]
    if as_json:
        print_json(rows)
        return
    if not rows and any(f is not None for f in (wanted, company, min_fit, search)):
        console.print("No job matches; `applyflow jobs` without filters lists every job.")
        return
    if not rows:
        console.print("No jobs yet. Ingest some with `applyflow ingest samples/postings.json`.")
        return
    table = Table(title=f"{len(rows)} job(s)")
    for col in ("id", "status", "fit", "title", "company", "keywords", "cost", "profile"):
        table.add_column(col, no_wrap=col in {"id", "status", "fit", "profile"})
    for r in rows:
        fit = "" if r["fit"] is None else str(r["fit"])
        cov = r["coverage"]
        covered = f"{len(cov['covered'])}/{len(cov['keywords'])}" if cov else ""
        cost = f"${r['cost_usd']:.4f}"
        used = r["profile"]
        profile = f"{Path(used['path']).name} {used['sha256'][:8]}" if used else ""
        table.add_row(r["id"], r["status"], fit, r["title"], r["company"], covered, cost, profile)
    console.print(table)
    if any(r["profile"] for r in rows):
        console.print("[dim]profile: the file each job's layers last read and its SHA-256[/]")
    print_claims(found)


def print_claims(found: list[Job]) -> None:
    """Each job's unsupported claims, under the table that lists it."""
    for job in found:
        if job.unsupported_claims:
            console.print(
                f"[yellow]{job.id}[/] {len(job.unsupported_claims)} claim(s) not in the profile "
                f"(read them, then `applyflow mark {job.id} ready`):",
                highlight=False,
            )
            for claim in job.unsupported_claims:
                console.print(f"  - {claim}", highlight=False, markup=False)


@app.command()
@handle_errors
def mark(
    job_id: Annotated[str, typer.Argument(help="Job id (see `applyflow jobs`).")],
    status: Annotated[
        str,
        typer.Argument(
            help="applied, interview, offer, rejected or discarded (or any status); `new` "
            "requeues the job for the next `applyflow run`."
        ),
    ],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When it happened, for changes made before: YYYY-MM-DD or 'YYYY-MM-DD HH:MM' "
            "(local time, APPLYFLOW_TIMEZONE). Not in the future.",
        ),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option("--note", help=f"A short note kept with the change (<= {NOTE_MAX} chars)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a job's status; marking `applied` stamps the time (or the --at date).

    `ready` approves a `needs_review` job whose claims you have read; `new` requeues a job, so
    the next `applyflow run` processes it again (its stored layers are reused unless --force).
    """
    target = _parse_status_option(status)
    assert target is not None
    cfg = settings()
    when = parse_when(at, cfg.tz) if at is not None else None
    # Printable characters only: a note is shown in terminals and the dashboard.
    text = "".join(c for c in note if c.isprintable()).strip() or None if note else None
    if text is not None and len(text) > NOTE_MAX:
        raise fail(f"--note is {len(text)} characters; keep it to {NOTE_MAX}")
    with store_session(cfg) as store:
        job = store.set_status(job_id, target, utcnow(), note=text, at=when)
    if as_json:
        print_json(_job_row(job))
        return
    stamp = f" (applied {job.applied_at:%Y-%m-%d %H:%M} UTC)" if job.applied_at else ""
    console.print(f"{job.id} {job.title} @ {job.company}: [bold]{job.status.value}[/]{stamp}")


@app.command()
@handle_errors
def stats(as_json: JsonFlag = False) -> None:
    """Applications today, this week, this month and in total, and the funnel."""
    cfg = settings()
    now = utcnow()
    with store_session(cfg) as store:
        apps = store.application_stats(now, cfg.tz)
        counts = store.status_counts()
        weekly = store.weekly_applications(now, cfg.tz, weeks=12)
    data = {
        **apps.model_dump(),
        "by_status": counts,
        "funnel": funnel(counts),
        "weekly": [{"week_start": w.week_start.isoformat(), "count": w.count} for w in weekly],
        "timezone": cfg.timezone,
        "now": now.isoformat(),
    }
    if as_json:
        print_json(data)
        return
    cards = Table(title="Applications", show_header=True)
    for col in ("today", "week (7 d)", "month (30 d)", "total"):
        cards.add_column(col, justify="right")
    cards.add_row(str(apps.today), str(apps.week), str(apps.month), str(apps.total))
    console.print(cards)
    steps = Table(title="Funnel")
    steps.add_column("stage")
    steps.add_column("jobs", justify="right")
    for stage, count in data["funnel"].items():
        steps.add_row(stage, str(count))
    console.print(steps)


def _prefect_reachable() -> tuple[bool, str]:
    """Whether a Prefect API is configured and answers (no ephemeral server is started)."""
    from applyflow.cli.local_server import configured_api_url, find_server, state_dir

    url = configured_api_url()
    if not url:
        local, _ = find_server(state_dir())
        if local is None:
            return False, "no PREFECT_API_URL set; flow commands start a local server"
        url = local.api_url
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=3)
        return response.status_code == 200, f"{url} answered {response.status_code}"
    except httpx.HTTPError as exc:
        return False, f"{url} unreachable: {type(exc).__name__}"


@app.command()
def health(as_json: JsonFlag = False) -> None:
    """Check the store, the Prefect API and each provider's guards."""
    cfg = settings()
    report: dict = {"store": {"url": cfg.masked()["store_url"], "kind": cfg.store_kind}}
    ok = True
    started = time.perf_counter()
    store = None
    providers: list[ProviderHealth] = []
    try:
        # Opened here rather than with store_session: the report, not an exit, says it is down.
        store = open_store(cfg)
        report["store"].update(ok=True, latency_ms=round(store.ping(), 3))
        try:
            # Imported when used: only `health` needs the guards (limits, pybreaker, prices).
            from guards.health import provider_health

            providers = provider_health(cfg, store)
            report["providers"] = [p.model_dump(mode="json") for p in providers]
        except Exception as exc:  # e.g. the shared rate-limit storage is unreachable
            ok = False
            report["providers_error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        ok = False
        error = str(exc) if isinstance(exc, ApplyflowError) else f"{type(exc).__name__}: {exc}"
        report["store"].update(ok=False, error=error or "unreachable")
        report["store"]["seconds"] = round(time.perf_counter() - started, 3)
    finally:
        if store is not None:
            store.close()
    reachable, detail = _prefect_reachable()
    report["prefect"] = {"reachable": reachable, "detail": detail}
    report["ok"] = ok
    if as_json:
        print_json(report)
    else:
        s = report["store"]
        mark_ = "[green]ok[/]" if s.get("ok") else "[red]down[/]"
        extra = f"{s['latency_ms']} ms" if s.get("ok") else s.get("error", "")
        console.print(f"store    {mark_}  {s['url']}  {extra}")
        p = report["prefect"]
        console.print(
            f"prefect  {'[green]up[/]' if p['reachable'] else '[yellow]n/a[/]'}  {p['detail']}"
        )
        if "providers_error" in report:
            console.print(f"guards   [red]unavailable[/]  {report['providers_error']}")
        for prov in providers:
            windows = (
                ", ".join(f"{w.limit} {w.remaining} left" for w in prov.rate) or "no rate limit"
            )
            console.print(
                f"provider {prov.provider}: breaker {prov.breaker.state}; {windows}; "
                f"budget {prov.budget.state} ({prov.budget.scope})",
                highlight=False,
            )
    if not ok:
        raise typer.Exit(1)
