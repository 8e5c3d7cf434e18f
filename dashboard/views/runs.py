"""Runs: recent pipeline runs and, for the selected one, its jobs x layers grid, live."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from applyflow.models import ProgressStatus, RunStatus
from applyflow.money import format_usd
from applyflow.settings import LAYERS, Settings
from dashboard import data, ui

LIVE_REFRESH_S = 3
FINISHED = {
    ProgressStatus.COMPLETED,
    ProgressStatus.CACHED,
    ProgressStatus.FAILED,
    ProgressStatus.SKIPPED,
}


def _cell(row: pd.Series) -> str:
    """One grid cell: status, duration and cost of a (job, layer)."""
    parts = [row["status"]]
    if pd.notna(row["duration_s"]):
        parts.append(f"{row['duration_s']:.1f} s")
    parts.append(format_usd(row["cost_usd"]))
    return " · ".join(parts)


def grid(progress: pd.DataFrame) -> pd.DataFrame:
    """Jobs (rows) x layers (columns, pipeline order) of status · duration · cost."""
    layers = [layer for layer in LAYERS if layer in set(progress["layer"])]
    layers += sorted(set(progress["layer"]) - set(LAYERS))
    cells = progress.assign(cell=progress.apply(_cell, axis=1))
    table = cells.pivot_table(
        index="job", columns="layer", values="cell", aggfunc="last", sort=False
    )
    return table.reindex(columns=layers).fillna("—").rename_axis(index="job", columns=None)


def progress_share(progress: pd.DataFrame) -> tuple[int, int]:
    """(finished layer tasks, expected layer tasks) of a run: every job goes through every layer."""
    jobs = progress["job_id"].nunique()
    layers = max(len(LAYERS), progress["layer"].nunique())
    done = int(progress["status"].isin([s.value for s in FINISHED]).sum())
    return done, max(jobs * layers, len(progress))


def _detail(src: data.Source, run_id: str, polling: bool) -> None:
    run = data.load_run(src, run_id)
    if run is None:
        ui.empty(f"Run {run_id} is gone from the store.")
        return
    running = run.status == RunStatus.RUNNING
    if polling and not running:
        data.load_runs.clear()
        st.rerun()  # the run ended: redraw the page once and stop polling
    progress = data.load_progress(src, run_id)
    head, link = st.columns([4, 1])
    ended = f" → {run.ended_at:%Y-%m-%d %H:%M:%S}" if run.ended_at else ""
    head.markdown(
        f"**Run `{run.id}`** · {run.status.value} · model `{run.model}` · "
        f"{run.started_at:%Y-%m-%d %H:%M:%S}{ended} UTC"
    )
    url = data.flow_run_url(run.flow_run_id)
    if url:
        link.link_button("Open in Prefect UI", url, icon=":material/open_in_new:")
    if progress.empty:
        ui.empty("No layer has reported progress for this run yet.")
        return
    done, expected = progress_share(progress)
    st.progress(done / expected, text=f"{done} of {expected} layer tasks finished")
    cols = st.columns(4)
    cols[0].metric("Jobs", progress["job_id"].nunique())
    cols[1].metric("Failed layers", int((progress["status"] == "failed").sum()))
    cols[2].metric("Cost", format_usd(float(progress["cost_usd"].sum())))
    cols[3].metric("Layer time", f"{progress['duration_s'].fillna(0).sum():.1f} s")
    st.table(ui.tinted(grid(progress)))
    errors = progress[progress["error"].notna()]
    if not errors.empty:
        st.subheader("Errors")
        st.dataframe(errors[["job", "layer", "error"]], hide_index=True)
    if running:
        st.caption(f"Live: refreshing every {LIVE_REFRESH_S} s while the run is going.")


def _detail_guarded(src: data.Source, run_id: str, polling: bool) -> None:
    try:
        _detail(src, run_id, polling)
    except ui.STORE_ERRORS as exc:
        ui.store_failed(src, exc)


def _body(settings: Settings, src: data.Source) -> None:
    runs = data.load_runs(src, settings)
    if runs.empty:
        ui.empty("No runs yet. Process the queue (`make demo` runs one) and it shows up here.")
        return
    st.dataframe(
        runs,
        hide_index=True,
        column_config={
            "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "ended": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        },
    )
    ids = list(runs["run"])
    wanted = st.query_params.get("run")
    labels = {r.run: f"{r.run} · started {r.started:%Y-%m-%d %H:%M}" for r in runs.itertuples()}
    run_id = ui.pick("Run", ids, labels, wanted, key="run_pick")
    running = runs.loc[runs["run"] == run_id, "status"].iloc[0] == RunStatus.RUNNING.value
    live = st.fragment(run_every=LIVE_REFRESH_S if running else None)(_detail_guarded)
    live(src, run_id, running)


st.title("Runs")
ui.guarded(_body)
