"""`applyflow` command line. Each module below adds its commands to the one Typer app."""

from __future__ import annotations

from importlib import import_module

from applyflow.cli._app import app, use_flag_commands

# Command modules, in --help order.
COMMAND_MODULES = [
    "core", "tracking", "ops", "observe", "pipeline", "status", "demo", "export", "deploy",
    "budget", "profile", "profile_import", "profile_check", "offline_provider", "server",
]  # fmt: skip

for _name in COMMAND_MODULES:
    import_module(f"applyflow.cli.{_name}")
use_flag_commands(app)

__all__ = ["app"]
