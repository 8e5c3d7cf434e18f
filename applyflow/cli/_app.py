"""The Typer app and what every command shares: output (tables, ``--json``) and errors.

Settings and the store a command uses come from ``_session``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from applyflow.errors import ApplyflowError

# Prefect's temporary local API migrates its database on first start, which can take longer than
# Prefect's 20 s default on a small or busy machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Quiet and local unless the user says otherwise (as `make` does): no telemetry (offline it only
# prints errors), Prefect's state beside applyflow's in .applyflow/.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", os.path.abspath(os.path.join(".applyflow", "prefect")))

app = typer.Typer(
    name="applyflow",
    help="Turn job postings into ready-to-send applications, cheaply and safely.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_USAGE = 2

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _version(value: bool) -> None:
    if value:
        from applyflow import __version__

        console.print(f"applyflow {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Turn job postings into ready-to-send applications, cheaply and safely.

    Settings come from APPLYFLOW_* environment variables or .env; see `applyflow config`.
    """


class _NoFlagTypes:
    """--help without a type beside a flag (Typer's rich help prints ``<bool>`` beside every
    flag, though a flag takes no value)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # shown in the type column; "" leaves it empty
        return params


class FlagCommand(_NoFlagTypes, TyperCommand):
    pass


class FlagGroup(_NoFlagTypes, TyperGroup):
    pass


def use_flag_commands(typer_app: typer.Typer) -> None:
    """``typer_app``, its commands and its groups without flag types in --help."""
    typer_app.info.cls = FlagGroup
    for command in typer_app.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = FlagCommand
    for group in typer_app.registered_groups:
        group.cls = FlagGroup
        if group.typer_instance is not None:
            use_flag_commands(group.typer_instance)


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print ``message`` on stderr and return an Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


DEBUG_ENV = "APPLYFLOW_DEBUG"


def handle_errors(func: F) -> F:
    """Turn errors into one red line and exit 1; a traceback only with APPLYFLOW_DEBUG=1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ApplyflowError as exc:
            raise fail(str(exc)) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise fail(
                f"{type(exc).__name__}: {exc}\n(set {DEBUG_ENV}=1 to see the traceback)"
            ) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
