"""Daily report flow: applications, follow-ups due, the day's runs, spend per scope and the
day's alerts.

The report is a Markdown artifact (key ``daily-report``) and, when
``APPLYFLOW_ALERT_WEBHOOK_URL`` is set, the same text is POSTed to that webhook.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from applyflow.models import Alert, Run, RunStatus
from applyflow.money import format_usd
from applyflow.periods import local_midnight
from applyflow.runtime import current_runtime
from applyflow.settings import Settings, get_settings
from applyflow.spend import budget_summary
from applyflow.stats import funnel
from applyflow.store import Store
from applyflow.store.runs import sweep_dead_runs
from applyflow.tracking import followups
from flows.hooks import on_flow_failure
from guards.alerts import post_webhook

__all__ = ["ARTIFACT_KEY", "build_report", "daily_report"]

ARTIFACT_KEY = "daily-report"
RUNS_SCANNED = 200  # newest runs read to find today's; a busier day says so in the report
ALERTS_SHOWN = 100
FOLLOWUPS_SHOWN = 50

# What the user calls each run ending.
_RUN_WORDS = {
    RunStatus.COMPLETED: "done",
    RunStatus.FAILED: "failed",
    RunStatus.STOPPED: "stopped (over budget or rate limit)",
    RunStatus.RUNNING: "running",
    RunStatus.CRASHED: "crashed (its process died)",
}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _runs_section(store: Store, settings: Settings, since: datetime) -> list[str]:
    scanned = store.list_runs(limit=RUNS_SCANNED)
    runs: list[Run] = [r for r in scanned if r.started_at >= since]
    lines = ["## Runs today", ""]
    if not runs:
        return [*lines, "No runs today.", ""]
    counts = {word: 0 for word in _RUN_WORDS.values()}
    rows = []
    for run in runs:
        word = _RUN_WORDS[run.status]
        counts[word] += 1
        spend = store.usage_total(run_id=run.id)
        started = run.started_at.astimezone(settings.tz)
        rows.append(
            [
                run.id,
                f"{started:%H:%M}",
                word,
                run.model,
                str(spend.calls),
                format_usd(spend.cost_usd),
            ]
        )
    summary = ", ".join(f"{n} {word}" for word, n in counts.items() if n)
    # Jobs stopped by their own cap; a failed or unfinished run has no counts yet.
    over_budget = sum(int(r.summary.get("counts", {}).get("over_budget", 0)) for r in runs)
    lines += [f"{len(runs)} run(s): {summary}.", ""]
    lines += [f"{over_budget} job(s) ended over budget (their own cap) in today's runs.", ""]
    lines += _table(["run", "started", "status", "model", "calls", "spend"], rows)
    if len(scanned) == RUNS_SCANNED and len(runs) == RUNS_SCANNED:
        lines += ["", f"Only the newest {RUNS_SCANNED} runs are listed."]
    return [*lines, ""]


def _spend_section(store: Store, settings: Settings, now: datetime, since: datetime) -> list[str]:
    today = store.usage_total(since=since)
    lines = [
        "## Spend",
        "",
        f"Today: {format_usd(today.cost_usd)} over {today.calls} call(s), "
        f"{today.input_tokens:,} input and {today.output_tokens:,} output tokens.",
        "",
    ]
    rows = []
    for scope in budget_summary(settings, store, now):
        percent = "" if scope.percent is None else f"{scope.percent:.1f}%"
        remaining = "" if scope.remaining is None else format_usd(scope.remaining)
        rows.append(
            [
                scope.kind,
                format_usd(scope.cap, none="no cap"),
                format_usd(scope.spent),
                format_usd(scope.reserved),
                remaining,
                percent,
                scope.state,
            ]
        )
    lines += _table(["scope", "cap", "spent", "reserved", "remaining", "used", "state"], rows)
    return [*lines, ""]


def _followups_section(store: Store, settings: Settings, now: datetime) -> list[str]:
    days = settings.followup_days
    due = followups(store, now, days, limit=FOLLOWUPS_SHOWN + 1)
    lines = ["## Follow-ups", ""]
    if not due:
        return [*lines, f"No application has gone {days} days without news.", ""]
    rows = [
        [
            item.company,
            item.title,
            item.status.value,
            item.applied_at.astimezone(settings.tz).date().isoformat() if item.applied_at else "",
            f"{item.quiet_days} days",
            item.apply_url or "",
        ]
        for item in due[:FOLLOWUPS_SHOWN]
    ]
    more = len(due) > FOLLOWUPS_SHOWN
    count = f"More than {FOLLOWUPS_SHOWN}" if more else str(len(due))
    lines += [f"{count} application(s) without news for {days} days or more, quietest first:", ""]
    lines += _table(["company", "title", "status", "applied", "quiet for", "apply URL"], rows)
    if more:
        lines += ["", "`applyflow followups` lists them all."]
    return [*lines, ""]


def _alerts_section(alerts: list[Alert], settings: Settings) -> list[str]:
    lines = ["## Alerts today", ""]
    if not alerts:
        return [*lines, "No alerts today.", ""]
    rows = [[f"{a.at.astimezone(settings.tz):%H:%M}", a.level, a.kind, a.message] for a in alerts]
    return [*lines, *_table(["time", "level", "kind", "message"], rows), ""]


def build_report(settings: Settings, store: Store, now: datetime) -> str:
    """The daily report as Markdown, for the local day of ``now`` in the configured zone."""
    since = local_midnight(now, settings.tz)
    local_day = now.astimezone(settings.tz)
    apps = store.application_stats(now, settings.tz)
    stages = funnel(store.status_counts())
    lines = [
        f"# applyflow daily report, {local_day:%A %Y-%m-%d} ({settings.timezone})",
        "",
        "## Applications",
        "",
        *_table(
            ["today", "last 7 days", "last 30 days", "total"],
            [[str(apps.today), str(apps.week), str(apps.month), str(apps.total)]],
        ),
        "",
        "Jobs: " + ", ".join(f"{n} {stage}" for stage, n in stages.items()) + ".",
        "",
        *_followups_section(store, settings, now),
        *_runs_section(store, settings, since),
        *_spend_section(store, settings, now, since),
        *_alerts_section(store.list_alerts(limit=ALERTS_SHOWN, since=since), settings),
    ]
    return "\n".join(lines).rstrip() + "\n"


@flow(name="daily-report", on_failure=[on_flow_failure])
def daily_report() -> str:
    """Write today's report as a Markdown artifact and send it to the alert webhook."""
    logger = get_run_logger()
    settings, runtime = get_settings(), current_runtime()
    now = runtime.clock()
    store = runtime.store_factory(settings.store_url)
    try:
        sweep_dead_runs(store, now, settings.claim_lease_s)  # a dead run reads as crashed
        text = build_report(settings, store, now)
    finally:
        store.close()
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=text,
        description=f"applyflow daily report {now.astimezone(settings.tz):%Y-%m-%d}",
    )
    # A failed POST is logged by post_webhook (never with the URL) and never fails the report.
    if post_webhook(settings, text):
        logger.info("daily report sent to the alert webhook")
    return text
