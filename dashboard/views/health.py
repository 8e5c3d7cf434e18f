"""Health: the store, the Prefect API, each provider's guards, and the latest alerts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from applyflow.settings import Settings, mask_url
from dashboard import data, ui

# Readable headings for the provider and breaker tables (the loaders keep the store's names).
COLUMNS = {
    "provider": st.column_config.TextColumn("Provider"),
    "breaker": st.column_config.TextColumn("Breaker"),
    "failures": st.column_config.NumberColumn("Failures", format="%d"),
    "retry_in_s": st.column_config.TextColumn("Next try in"),
    "rate_windows": st.column_config.TextColumn("Rate windows (this dashboard's)"),
    "budget": st.column_config.TextColumn("Budget"),
    "state": st.column_config.TextColumn("State"),
    "fail_count": st.column_config.NumberColumn("Failures", format="%d"),
    "opened_at": st.column_config.TextColumn("Opened (UTC)"),
    "updated_at": st.column_config.DatetimeColumn("Updated (UTC)", format="YYYY-MM-DD HH:mm:ss"),
}


def _store(src: data.Source) -> bool:
    """Store reachability and latency; False (with the fix shown) when it is down."""
    st.subheader("Store")
    left, right = st.columns([1, 3])
    try:
        latency = data.ping_store(src)
    except ui.STORE_ERRORS as exc:
        left.metric("Store", "down")
        with right:
            ui.store_failed(src, exc)
        return False
    left.metric("Store ping", f"{latency:.1f} ms")
    right.success(f"Reachable: `{mask_url(src.url)}`", icon=":material/check_circle:")
    return True


def _prefect() -> None:
    st.subheader("Prefect API")
    api, ui_url = data.prefect_urls()
    reachable, detail = data.prefect_status(api)
    if reachable:
        st.success(f"Reachable: {detail}", icon=":material/check_circle:")
        if ui_url:
            st.link_button("Open the Prefect UI", ui_url, icon=":material/open_in_new:")
    elif api:
        st.error(f"Not reachable: {detail}. Start it with `make server`.")
    else:
        st.info(f"Not configured: {detail}. Set `PREFECT_API_URL` to watch a Prefect server.")


def _providers(settings: Settings, src: data.Source) -> None:
    st.subheader("Providers")
    try:
        report = data.load_providers(src, settings)
    except Exception as exc:  # noqa: BLE001 - an optional report must never break the page
        st.warning(
            f"Provider guard report unavailable ({type(exc).__name__}: {exc}); "
            "breaker states and budget below come straight from the store."
        )
    else:
        if report.empty:
            ui.empty("No provider configured.")
        else:
            retry = [f"{v:.0f} s" if pd.notna(v) and v else "" for v in report["retry_in_s"]]
            st.dataframe(report.assign(retry_in_s=retry), hide_index=True, column_config=COLUMNS)
    breakers = data.load_breakers(src)
    st.markdown("**Circuit breakers**")
    if breakers.empty:
        ui.empty("No breaker has been used yet: every provider is closed (healthy).")
    else:
        opened = [f"{v:%Y-%m-%d %H:%M:%S}" if pd.notna(v) else "" for v in breakers["opened_at"]]
        shown = breakers.assign(opened_at=opened)
        st.dataframe(shown, hide_index=True, column_config=COLUMNS)
    budget = data.load_budget(src, settings)
    st.markdown("**Budget state**")
    cols = st.columns(len(budget))
    for col, row in zip(cols, budget.itertuples(), strict=True):
        used = f"{row.percent:.1f}% used" if pd.notna(row.percent) else "no cap"
        col.metric(
            row.kind.capitalize(),
            row.state,
            help=row.key,
            delta=used,
            delta_color="off",
            delta_arrow="off",
        )


def _differs(row: pd.Series) -> list[str]:
    tone = "background-color: #f08c0033" if row.iloc[0] != row.iloc[1] else ""
    return [tone] * len(row)


def _guards(settings: Settings, src: data.Source) -> None:
    """The limits, caps and breakers the workers use (from the latest run) beside the
    dashboard's own: a worker's environment may set other ones."""
    st.subheader("Guards in use")
    latest = data.load_run_guards(src)
    providers = sorted({p["provider"] for p in latest.guards["providers"]}) if latest else None
    try:
        own = data.own_guards(settings, providers)
    except Exception as exc:  # noqa: BLE001 - an optional report must never break the page
        st.warning(f"The dashboard's own guard settings are unavailable ({type(exc).__name__}).")
        own = None
    table = data.guards_rows(latest.guards if latest else None, own).set_index("setting")
    if latest is None:
        st.caption(
            "No run has recorded its guard settings yet: these are the dashboard's own. "
            "Each `applyflow run` stores what its worker enforces."
        )
        st.table(table[["this dashboard"]])
        return
    started = f"{latest.started_at:%Y-%m-%d %H:%M}"
    st.caption(
        f"Workers: as run `{latest.run_id}` used them (started {started} UTC). Highlighted "
        "rows differ from this dashboard's settings: the workers' environment decides."
    )
    st.table(table.style.apply(_differs, axis=1))


def _alerts(src: data.Source) -> None:
    st.subheader("Latest alerts")
    alerts = data.load_alerts(src)
    if alerts.empty:
        ui.empty("No alerts. Budget warnings and open breakers show up here.")
        return
    st.dataframe(alerts, hide_index=True)


def _body(settings: Settings, src: data.Source) -> None:
    up = _store(src)
    _prefect()
    if up:
        _providers(settings, src)
        _guards(settings, src)
        _alerts(src)


st.title("Health")
ui.guarded(_body)
