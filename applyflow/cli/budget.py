"""Guard commands: `budget` shows every spend scope; `setup` creates the Prefect limits."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from applyflow.cli._app import app, console, handle_errors, print_json, settings, store_session
from applyflow.errors import money_cap
from applyflow.models import utcnow
from applyflow.spend import ScopeState, budget_summary

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

_STATE_STYLE = {
    ScopeState.OK: "green",
    ScopeState.WARNING: "yellow",
    ScopeState.CRITICAL: "bold yellow",
    ScopeState.EXCEEDED: "bold red",
    ScopeState.UNLIMITED: "dim",
}


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def _cap(cap: float | None) -> str:
    if cap is None:
        return "no cap"
    return money_cap(cap)


@app.command()
@handle_errors
def budget(
    as_json: JsonFlag = False,
    run: Annotated[str | None, typer.Option("--run", help="Also show this run's scope.")] = None,
    job: Annotated[str | None, typer.Option("--job", help="Also show this job's scope.")] = None,
) -> None:
    """Show each budget scope (cap, spent, reserved, remaining, state) and spend by model."""
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
            _cap(s.cap),
            _usd(s.spent),
            _usd(s.reserved),
            _usd(s.remaining),
            "-" if s.percent is None else f"{s.percent:.1f}%",
            f"[{style}]{s.state}[/]",
        )
    console.print(table)
    for title, groups in (("Spend by provider", by_provider), ("Spend by model", by_model)):
        spend = Table(title=title)
        for column in ("name", "calls", "input tokens", "output tokens", "cost"):
            spend.add_column(column, justify="left" if column == "name" else "right")
        for g in groups:
            spend.add_row(
                g.key or "-", str(g.calls), f"{g.input_tokens:,}", f"{g.output_tokens:,}",
                _usd(g.cost_usd),
            )  # fmt: skip
        if not groups:
            spend.add_row("no calls yet", "0", "0", "0", _usd(0.0))
        console.print(spend)


@app.command()
@handle_errors
def setup(as_json: JsonFlag = False) -> None:
    """Create or update the Prefect concurrency limits llm-<provider> and the work pool."""
    from guards.concurrency import setup_prefect

    cfg = settings()
    done = setup_prefect(cfg)
    if as_json:
        print_json(done)
        return
    for item in done:
        size = "" if item["size"] is None else f" ({item['size']} slots)"
        console.print(f"{item['kind']} {item['name']}{size}: {item['action']}")
