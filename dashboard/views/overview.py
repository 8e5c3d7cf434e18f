"""Overview: applications today / this week / this month / total, the funnel, weekly trend."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from applyflow.settings import Settings
from dashboard import data, ui

REFRESH_S = 60


def _cards(src: data.Source) -> int:
    """The four application counts, each with its share of the total; returns the total."""
    apps = data.load_applications(src)
    hints = {
        "today": "Since local midnight",
        "week": "Last 7 days",
        "month": "Last 30 days",
        "total": "Every application sent",
    }
    for column, row in zip(st.columns(4), apps.itertuples(), strict=True):
        with column, st.container(border=True):
            st.metric(row.label, int(row.count), help=hints[row.period])
            st.progress(float(row.share), text=f"{row.share:.0%} of total")
    return int(apps.set_index("period").at["total", "count"])


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
