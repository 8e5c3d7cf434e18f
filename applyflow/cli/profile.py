"""`applyflow profile ...`: the candidate profile (its commands live in their own modules)."""

from __future__ import annotations

import typer

from applyflow.cli._app import app

profile_app = typer.Typer(
    name="profile",
    help="The candidate profile: import one from a CV, check one.",
    no_args_is_help=True,
)
app.add_typer(profile_app, name="profile")
