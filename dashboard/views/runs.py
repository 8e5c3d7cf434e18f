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
    name = run.flow_run_name
    url = data.flow_run_url(run.flow_run_id)
    if url:
        label = f"Open {name} in Prefect UI" if name else "Open in Prefect UI"
        link.link_button(label, url, icon=":material/open_in_new:")
    if running and run.waiting:
        st.warning(data.wait_text(run.waiting, data.now(src)), icon=":material/hourglass:")
    if run.profile:
        short = run.profile.sha256[:12]
        st.caption(f"Profile {ui.literal(run.profile.path)} (sha256 `{short}`)")
    reason = run.summary.get("stop_reason") or run.summary.get("error")
    if reason:
        st.caption(f"{run.status.value.capitalize()}: {reason}")
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


def runs_table(runs: pd.DataFrame, ui_url: str | None) -> pd.DataFrame:
    """Runs as listed: what they did, a note (what a live run waits on, why one stopped), and
    the Prefect run by name, linked when the Prefect UI is known."""
    prefect = [
        data.flow_run_link(fid, name or None) if ui_url and fid else (name or fid or "")
        for fid, name in zip(runs["flow_run_id"], runs["flow_run_name"], strict=True)
    ]
    return runs.assign(prefect=prefect)[
        ["run", "status", "note", "started", "duration_s", "jobs", "ready", "failed",
         "skipped", "spend_usd", "model", "prefect"]
    ]  # fmt: skip


def _columns(linked: bool) -> dict[str, object]:
    cc = st.column_config
    return {
        "run": cc.TextColumn("Run"),
        "status": cc.TextColumn("Status"),
        "note": cc.TextColumn("Note", width="medium"),
        "started": cc.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm:ss"),
        "duration_s": cc.NumberColumn("Duration", format="%.0f s"),
        "jobs": cc.NumberColumn("Jobs", format="%d"),
        "ready": cc.NumberColumn("Ready", format="%d"),
        "failed": cc.NumberColumn("Failed", format="%d"),
        "skipped": cc.NumberColumn("Skipped", format="%d", help="Below the minimum fit"),
        "spend_usd": cc.NumberColumn("Spend", format="$%.4f"),
        "model": cc.TextColumn("Model"),
        "prefect": (
            cc.LinkColumn("Prefect run", display_text=data.FLOW_RUN_NAME_PATTERN)
            if linked
            else cc.TextColumn("Prefect run")
        ),
    }


def _body(settings: Settings, src: data.Source) -> None:
    runs = data.load_runs(src, settings)
    if runs.empty:
        ui.empty("No runs yet. Process the queue (`make demo` runs one) and it shows up here.")
        return
    show_idle = st.toggle(
        "Show runs that took no job", key="runs_idle", help="Runs that found nothing to do"
    )
    idle = (runs["jobs"] == 0) & (runs["status"] != RunStatus.RUNNING.value)
    shown = runs if show_idle else runs[~idle]
    if not show_idle and idle.any():
        st.caption(f"{int(idle.sum())} run(s) that took no job hidden.")
    if shown.empty:
        ui.empty("Every recent run found nothing to do: the queue was empty.")
        return
    _, ui_url = data.prefect_urls()
    st.dataframe(runs_table(shown, ui_url), hide_index=True, column_config=_columns(bool(ui_url)))
    ids = list(shown["run"])
    wanted = st.query_params.get("run")
    if wanted in set(runs["run"]) and wanted not in ids:
        ids.insert(0, wanted)  # a link to a hidden run still opens it
    labels = {r.run: f"{r.run} · started {r.started:%Y-%m-%d %H:%M}" for r in runs.itertuples()}
    run_id = ui.pick("Run", ids, labels, wanted, key="run_pick")
    running = runs.loc[runs["run"] == run_id, "status"].iloc[0] == RunStatus.RUNNING.value
    live = st.fragment(run_every=LIVE_REFRESH_S if running else None)(_detail_guarded)
    live(src, run_id, running)


st.title("Runs")
ui.guarded(_body)
