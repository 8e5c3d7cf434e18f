"""Tracking commands: `followups`; and how `mark --at` reads a date."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from applyflow.cli._app import JsonFlag, app, console, fail, handle_errors, print_json
from applyflow.cli._session import settings, store_session
from applyflow.models import utcnow
from applyflow.settings import env_name
from applyflow.tracking import followups as due_followups

__all__ = ["parse_when"]


def parse_when(text: str, tz: ZoneInfo) -> datetime:
    """A user's date (``2026-11-20``: local midnight) or date and time (``2026-11-20 14:30``,
    ISO, with or without an offset: local time when without) as aware UTC; a clear error."""
    value = text.strip()
    try:
        try:
            moment = datetime.combine(date.fromisoformat(value), time(0), tz)
        except ValueError:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(
            f"--at {text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM "
            f"(local time, {tz.key}) or ISO 8601 with an offset"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(ZoneInfo("UTC"))


@app.command()
@handle_errors
def followups(
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            help=f"Days without a status change (default {env_name('followup_days')}, 7).",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Applications with no status change for N days, the quietest first: whom to chase."""
    cfg = settings()
    wanted = days or cfg.followup_days
    now = utcnow()
    with store_session(cfg) as store:
        due = due_followups(store, now, wanted, limit=limit)
    if as_json:
        print_json([item.model_dump(mode="json") for item in due])
        return
    if not due:
        console.print(f"No applications without news for {wanted} days or more.")
        return
    table = Table(title=f"{len(due)} application(s) without news for {wanted}+ days")
    for col in ("id", "company", "title", "status", "applied", "quiet", "apply URL"):
        table.add_column(col, overflow="fold", no_wrap=col in ("id", "applied", "quiet"))
    for item in due:
        applied = item.applied_at.astimezone(cfg.tz).date().isoformat() if item.applied_at else ""
        table.add_row(
            item.id, item.company, item.title, item.status.value, applied,
            f"{item.quiet_days} d", item.apply_url or "",
        )  # fmt: skip
    console.print(table)
