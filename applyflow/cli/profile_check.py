"""`applyflow profile check [PATH]`: the sections a profile has, the headings applyflow does not
read, and what the layers will use (the same check the flow commands' preflight makes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from applyflow.cli._app import EXIT_USAGE, JsonFlag, console, fail, handle_errors, print_json
from applyflow.cli._session import settings
from applyflow.cli.profile import profile_app
from applyflow.errors import InputError
from applyflow.models import ProfileRef
from applyflow.profile_check import USES, ProfileCheck, check_profile, profile_ref, read_profile


@profile_app.command("check")
@handle_errors
def check(
    path: Annotated[
        Path | None,
        typer.Argument(help="The profile (default: APPLYFLOW_PROFILE).", show_default=False),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Report the profile's sections, the headings applyflow does not know, and what the
    layers will use. Exit 2 when a problem would spoil the documents (as `run` would)."""
    path = path or settings().profile
    try:
        text = read_profile(path)
    except InputError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    result = check_profile(text)
    used = profile_ref(path, text)
    if as_json:
        print_json(
            {
                "profile": used.model_dump(),
                **result.model_dump(),
                "unknown": result.unknown,
                "ok": result.ok,
            }
        )
    else:
        _print(result, used)
    if not result.ok:
        raise typer.Exit(EXIT_USAGE)


def _print(result: ProfileCheck, used: ProfileRef) -> None:
    console.print(f"profile {escape(used.path)} (sha256 {used.sha256[:12]})", highlight=False)
    console.print(f"name: {escape(result.name or '-')}; {result.roles} role(s)", highlight=False)
    table = Table(title="sections")
    table.add_column("heading", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what applyflow does with it", overflow="fold")
    for section in result.sections:
        table.add_row(f"## {escape(section.heading)}", section.kind, escape(section.use))
    console.print(table)
    missing = [name for name in USES if name not in {s.heading for s in result.sections}]
    if missing:
        console.print(f"[dim]not in this profile: {', '.join(missing)}[/]")
    for line in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    for line in result.errors:
        console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if result.ok:
        console.print("[green]ok[/]: the layers can use this profile")
