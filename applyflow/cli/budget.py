"""Guard commands: `budget` shows every spend scope; `setup` creates the Prefect limits."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from applyflow.cli._app import JsonFlag, app, console, handle_errors, print_json
from applyflow.cli._session import settings, store_session
from applyflow.models import SpendGroup, utcnow
from applyflow.money import format_usd
from applyflow.spend import ScopeState, budget_summary

# Token classes as the spend tables name them (all of them are in --json).
_CLASS_COLUMNS = (
    ("cache_read_tokens", "cache read"),
    ("cache_write_tokens", "cache write"),
    ("output_reasoning_tokens", "reasoning"),
    ("input_audio_tokens", "audio in"),
    ("output_audio_tokens", "audio out"),
)
_STATE_STYLE = {
    ScopeState.OK: "green",
    ScopeState.WARNING: "yellow",
    ScopeState.CRITICAL: "bold yellow",
    ScopeState.EXCEEDED: "bold red",
    ScopeState.UNLIMITED: "dim",
}


@app.command()
@handle_errors
def budget(
    as_json: JsonFlag = False,
    run: Annotated[str | None, typer.Option("--run", help="Also show this run's scope.")] = None,
    job: Annotated[str | None, typer.Option("--job", help="Also show this job's scope.")] = None,
) -> None:
    """Show each budget scope (cap, spent, reserved, remaining, state) and spend by provider
    and model, with the cache, reasoning and audio tokens billed at their own price."""
    cfg = settings()
    with store_session(cfg) as store:
        scopes = budget_summary(cfg, store, utcnow(), run_id=run, job_id=job)
        by_provider = store.spend_by("provider")
        by_model = store.spend_by("model")
    data = {
        "enforce": cfg.budget_enforce,
        "warn_at": cfg.budget_warn_at,
        "scopes": [s.model_dump() for s in scopes],
        "by_provider": [g.model_dump() for g in by_provider],
        "by_model": [g.model_dump() for g in by_model],
    }
    if as_json:
        print_json(data)
        return
    table = Table(title="Budget" + ("" if cfg.budget_enforce else " (not enforced)"))
    for column in ("scope", "cap", "spent", "reserved", "remaining", "used"):
        table.add_column(column, justify="left" if column == "scope" else "right")
    table.add_column("state")
    for s in scopes:
        style = _STATE_STYLE[s.state]
        table.add_row(
            s.key,
            format_usd(s.cap, None, none="no cap"),
            format_usd(s.spent),
            format_usd(s.reserved),
            format_usd(s.remaining),
            "-" if s.percent is None else f"{s.percent:.1f}%",
            f"[{style}]{s.state}[/]",
        )
    console.print(table)
    for title, groups in (("Spend by provider", by_provider), ("Spend by model", by_model)):
        console.print(_spend_table(title, groups))


def _spend_table(title: str, groups: list[SpendGroup]) -> Table:
    # The token classes billed at their own price, as columns only when some call had them.
    classes = [
        (name, label) for name, label in _CLASS_COLUMNS if any(getattr(g, name) for g in groups)
    ]
    spend = Table(title=title)
    columns = ["name", "calls", "input tokens", "output tokens", *(c for _, c in classes), "cost"]
    for column in columns:
        spend.add_column(column, justify="left" if column == "name" else "right")
    for g in groups:
        spend.add_row(
            g.key or "-", str(g.calls), f"{g.input_tokens:,}", f"{g.output_tokens:,}",
            *(f"{getattr(g, name):,}" for name, _ in classes), format_usd(g.cost_usd),
        )  # fmt: skip
    if not groups:
        spend.add_row("no calls yet", "0", "0", "0", format_usd(0.0))
    return spend


@app.command()
@handle_errors
def setup(as_json: JsonFlag = False) -> None:
    """Create or update the Prefect concurrency limits llm-<provider> and the work pool."""
    from applyflow.cli.local_server import use_prefect_api

    cfg = settings()
    use_prefect_api(cfg)  # the limits go to the server the flow commands use
    from flows.deployments import setup_prefect

    done = setup_prefect(cfg)
    if as_json:
        print_json([asdict(step) for step in done])
        return
    for step in done:
        size = "" if step.size is None else f" ({step.size} slots)"
        console.print(f"{step.kind} {step.name}{size}: {step.action}")
