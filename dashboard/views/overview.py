"""Overview: applications (with their trend), spend and what is left of each cap, the run in
progress, follow-ups due; then the funnel and the weekly trend."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from applyflow.money import format_usd
from applyflow.settings import Settings
from dashboard import data, ui

REFRESH_S = 60
RUNS_PAGE = "views/runs.py"


def _cards(src: data.Source) -> int:
    """The four application counts, each against the period before it; returns the total."""
    apps = data.load_applications(src)
    hints = {
        "today": "Since local midnight",
        "week": "Last 7 days",
        "month": "Last 30 days",
        "total": "Every application sent",
    }
    for column, row in zip(st.columns(4), apps.itertuples(), strict=True):
        column.metric(
            row.label,
            int(row.count),
            delta=int(row.delta),
            delta_description=row.versus,
            delta_color="normal" if row.delta else "off",
            help=hints[row.period],
            border=True,
        )
    return int(apps.set_index("period").at["total", "count"])


def _spend(settings: Settings, src: data.Source) -> None:
    """Spend today and this month, what is left of each cap, coloured by its state."""
    budget = data.load_budget(src, settings).set_index("kind")
    with st.container(border=True):
        st.markdown("**Spend**")
        for kind, label in (("day", "Spent today"), ("month", "Spent this month")):
            row = budget.loc[kind]
            if pd.notna(row["cap"]):
                left = f"{format_usd(row['remaining'])} left of {format_usd(row['cap'], None)}"
                state = f"{row['state']} · {left}"
            else:
                state = "no cap"
            st.metric(
                label,
                format_usd(row["spent"]),
                delta=state,
                delta_color=ui.STATE_COLOURS.get(row["state"], "gray"),
                delta_arrow="off",
                help=f"Scope {row['key']}; caps: APPLYFLOW_BUDGET_*_USD",
            )
        st.page_link("views/spend.py", label="Spend details", icon=":material/payments:")


def _live_run(settings: Settings, src: data.Source) -> None:
    """The run in progress: jobs done of total, its spend, what it waits on; a link to it."""
    live = data.load_live_run(src, settings)
    with st.container(border=True):
        st.markdown("**Run in progress**")
        if live is None:
            st.caption("No run is going. Start one with `applyflow run` or from the Prefect UI.")
            st.page_link(RUNS_PAGE, label="Recent runs", icon=":material/play_circle:")
            return
        st.metric("Jobs done", f"{live.jobs_done} of {live.jobs}", help=f"Run {live.id}")
        st.metric("Spend so far", format_usd(live.spend_usd))
        if live.waiting:
            st.warning(data.wait_text(live.waiting, data.now(src)), icon=":material/hourglass:")
        name = live.flow_run_name or live.id
        st.page_link(
            RUNS_PAGE, label=f"Open run {name}", icon=":material/open_in_new:",
            query_params={"run": live.id},
        )  # fmt: skip


def _followups(settings: Settings, src: data.Source) -> None:
    due = data.load_followups(src, settings.followup_days)
    with st.container(border=True):
        st.markdown("**Follow-ups due**")
        st.metric(
            "Applications to follow up",
            len(due),
            help=f"No answer for {settings.followup_days} days (APPLYFLOW_FOLLOWUP_DAYS); "
            "`applyflow followups` lists them",
        )
        for row in due.head(3).itertuples():
            st.caption(f"{ui.literal(f'{row.title} @ {row.company}')} · quiet {row.quiet_days} d")


def _funnel(df: pd.DataFrame) -> None:
    main, side = df[~df["beside"]], df[df["beside"]]
    st.subheader("Funnel")
    left, right = st.columns([3, 1])
    with left:
        st.bar_chart(main, x="stage", y="jobs", horizontal=True, sort=False, height=260)
    with right:
        for row in side.itertuples():
            st.metric(row.stage.capitalize(), int(row.jobs))
    with st.expander("Funnel numbers"):
        st.dataframe(df[["stage", "jobs"]], hide_index=True)


def _weekly(src: data.Source) -> None:
    df = data.load_weekly(src)
    st.subheader("Applications per week (12 weeks)")
    st.bar_chart(df, x="week", y="applications", height=260)
    with st.expander("Weekly numbers"):
        st.dataframe(df, hide_index=True)


def _body(settings: Settings, src: data.Source) -> None:
    total = _cards(src)
    spend, run, follow = st.columns(3)
    with spend:
        _spend(settings, src)
    with run:
        _live_run(settings, src)
    with follow:
        _followups(settings, src)
    stages = data.load_funnel(src)
    if int(stages.set_index("stage").at["ingested", "jobs"]) == 0:
        ui.empty(
            "No jobs yet. Ingest postings with `applyflow ingest samples/postings.json` "
            "and process them (or run `make demo`); the numbers appear here."
        )
        return
    if total == 0:
        ui.empty("No applications sent yet: mark a job *applied* on the Jobs page.")
    _funnel(stages)
    _weekly(src)
    st.caption(f"As of {data.now(src):%Y-%m-%d %H:%M} UTC · times in {src.timezone}")


@st.fragment(run_every=REFRESH_S)
def _live() -> None:
    ui.guarded(_body)


st.title("Overview")
_live()
