"""The preflight of the flow commands (``applyflow.preflight``) as the CLI runs it: before
Prefect loads, one line per problem on stderr, exit 2."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from applyflow.cli._app import EXIT_USAGE, err_console, print_json
from applyflow.preflight import Preflight, models_called, preflight
from applyflow.settings import Settings


def report(result: Preflight, as_json: bool = False) -> None:
    """Print the warnings; on errors print them (and, with --json, the JSON) and exit 2."""
    for line in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if result.ok:
        return
    if as_json:
        print_json({"ok": False, "errors": result.errors, "warnings": result.warnings})
    for line in result.errors:
        err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


def check_run(
    cfg: Settings,
    *,
    profile: Path | None,
    model: str | None,
    dry_run: bool,
    price_as: str | None,
    as_json: bool = False,
) -> None:
    """What a pipeline run needs: its profile, a price for every model it may call or prices
    (as the flow checks them; a dry run prices the run's own models for its forecast), and a
    key for each paid provider it calls."""
    from guards.pricing import run_price_problems

    result = preflight(
        cfg,
        profile=profile or cfg.profile,
        # A dry run calls the offline model alone: $0 always fits, so never the fallback.
        calls=[] if dry_run else models_called(cfg, model),
        prices=lambda: run_price_problems(cfg, model, price_as),
    )
    report(result, as_json)


def check_serve(cfg: Settings) -> None:
    """What the served deployments need: a run's checks on the settings' models; no sources is
    a warning (the scheduled ingest then completes without reading anything)."""
    from guards.pricing import run_price_problems

    result = preflight(
        cfg,
        profile=cfg.profile,
        profile_flag="a profile at that path",
        calls=models_called(cfg, None),
        prices=lambda: run_price_problems(cfg, None, None),
    )
    if not cfg.sources:
        result.warnings.append(
            "APPLYFLOW_SOURCES is empty: the hourly ingest will read nothing until it is set"
        )
    report(result)
