"""Spend: every budget scope against its cap, spend over time, where it went, and a forecast."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from applyflow.errors import PricingError
from applyflow.money import format_usd
from applyflow.settings import Settings
from applyflow.spend import ScopeState
from dashboard import data, ui


def scopes_table(budget: pd.DataFrame) -> pd.DataFrame:
    """Budget scopes as shown: money formatted, state with its colour."""
    return pd.DataFrame(
        {
            "scope": budget["key"],
            "cap": [format_usd(v, 2) if pd.notna(v) else "no cap" for v in budget["cap"]],
            "spent": [format_usd(v) for v in budget["spent"]],
            "reserved": [format_usd(v) for v in budget["reserved"]],
            "remaining": [format_usd(v) if pd.notna(v) else ui.EMPTY for v in budget["remaining"]],
            "used": [f"{v:.1f}%" if pd.notna(v) else ui.EMPTY for v in budget["percent"]],
            "state": budget["state"],
        }
    )


def _scopes(settings: Settings, src: data.Source) -> None:
    st.subheader("Budget scopes")
    budget = data.load_budget(src, settings)
    st.table(ui.tinted(scopes_table(budget).set_index("scope"), ["state"]))
    worst = budget[budget["state"].isin([ScopeState.CRITICAL, ScopeState.EXCEEDED])]
    for row in worst.itertuples():
        st.warning(f"Scope `{row.key}` is {row.state} ({row.percent:.1f}% of its cap).")
    st.caption(
        f"Warning at {settings.budget_warn_at:.0%} of a cap, critical at 90%. "
        "Caps: `APPLYFLOW_BUDGET_*_USD`."
    )


MONEY = "$%.4f"
# Readable headings for the usage tables (the loaders keep the store's names).
USAGE_COLUMNS = {
    "calls": st.column_config.NumberColumn("Calls", format="%d"),
    "input_tokens": st.column_config.NumberColumn("Input tokens", format="%d"),
    "output_tokens": st.column_config.NumberColumn("Output tokens", format="%d"),
    "cost_usd": st.column_config.NumberColumn("Cost", format=MONEY),
    "provider": st.column_config.TextColumn("Provider"),
    "model": st.column_config.TextColumn("Model"),
    "layer": st.column_config.TextColumn("Layer"),
    "job_id": st.column_config.TextColumn("Job"),
    "title": st.column_config.TextColumn("Title"),
    "company": st.column_config.TextColumn("Company"),
}


def money_chart(df: pd.DataFrame, x: str, title: str) -> alt.Chart:
    """Spend per bucket as bars whose axis and tooltips read as money."""
    return (
        alt.Chart(df, height=240)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:O", title=None, sort=None),
            y=alt.Y("cost_usd:Q", title="USD", axis=alt.Axis(format="$,.4f")),
            tooltip=[
                alt.Tooltip(f"{x}:O", title=title),
                alt.Tooltip("cost_usd:Q", title="Spend", format="$,.4f"),
                alt.Tooltip("calls:Q", title="Calls"),
            ],
        )
    )


def _series(src: data.Source) -> None:
    charts = (
        ("day", "Daily spend (30 days)", "Day", "in the last 30 days"),
        ("hour", "Hourly spend (24 hours)", "Hour", "in the last 24 hours"),
    )
    for column, (bucket, heading, title, since) in zip(st.columns(2), charts, strict=True):
        df = data.load_spend_series(src, bucket)
        with column:
            st.subheader(heading)
            if float(df["cost_usd"].sum()) > 0:
                st.altair_chart(money_chart(df, bucket, title), width="stretch")
            else:
                ui.empty(f"Nothing spent {since}.")


def _breakdown(src: data.Source) -> None:
    st.subheader("Where it went")
    tabs = st.tabs(["By provider", "By model", "By layer"], key="spend_tab")
    for tab, field in zip(tabs, ("provider", "model", "layer"), strict=True):
        with tab:
            df = data.load_spend_by(src, field)
            if df.empty:
                ui.empty("No model calls recorded yet.")
            else:
                st.dataframe(df, hide_index=True, column_config=USAGE_COLUMNS)
    st.subheader("Most expensive jobs")
    jobs = data.load_expensive_jobs(src)
    if jobs.empty:
        ui.empty("No job has cost anything yet.")
    else:
        st.dataframe(jobs, hide_index=True, column_config=USAGE_COLUMNS)


def _forecast(settings: Settings, src: data.Source) -> None:
    st.subheader("Forecast")
    models = data.priced_models(settings, src.config)
    chosen = st.selectbox(
        "Forecast on model",
        models,
        index=models.index(data.default_forecast_model(settings, models)),
        accept_new_options=True,
        key="forecast_model",
        help="Any priced model (genai-prices or APPLYFLOW_PRICES); type provider:model for "
        "one not listed.",
    )
    try:
        f = data.load_forecast(src, settings, chosen)
    except (PricingError, ValueError) as exc:
        st.error(f"Cannot forecast on `{chosen}`: {exc}")
        return
    cols = st.columns(4)
    cols[0].metric("New jobs in the queue", f["queue"])
    cols[1].metric(
        "Average cost per job",
        format_usd(f["average_usd"], none=ui.EMPTY),
        help=f"Recorded over {f['jobs_costed']} job(s), on the models that ran them",
    )
    cols[2].metric(
        f"Per job on {chosen}",
        format_usd(f["model_per_job_usd"], none=ui.EMPTY),
        help=f"{f['input_tokens']} input + {f['output_tokens']} output tokens: the average "
        "a job has used so far",
    )
    cols[3].metric(f"Queue on {chosen}", format_usd(f["model_forecast_usd"], none=ui.EMPTY))
    if f["jobs_costed"] == 0:
        st.caption("No processed job has recorded a model call yet, so there is no average to use.")
    else:
        st.caption(
            f"At recorded cost the queue would cost {format_usd(f['forecast_usd'])}. "
            "`applyflow run --dry-run --price-as MODEL` forecasts it call by call."
        )


# The token classes' table: readable headings, and the classes no call had left out.
_CLASS_COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "input_tokens": st.column_config.NumberColumn("Input tokens", format="%d"),
    "output_tokens": st.column_config.NumberColumn("Output tokens", format="%d"),
    "cached_share": st.column_config.NumberColumn(
        "Input cached", format="percent", help="Share of the input tokens read from the cache"
    ),
    "cache_read_tokens": st.column_config.NumberColumn("Cache read", format="%d"),
    "cache_write_tokens": st.column_config.NumberColumn("Cache write", format="%d"),
    "cache_write_1h_tokens": st.column_config.NumberColumn(
        "of which 1 h", format="%d", help="Cache writes kept an hour (priced higher)"
    ),
    "input_audio_tokens": st.column_config.NumberColumn("Audio in", format="%d"),
    "output_reasoning_tokens": st.column_config.NumberColumn("Reasoning", format="%d"),
    "output_audio_tokens": st.column_config.NumberColumn("Audio out", format="%d"),
}
_ALWAYS = ("model", "input_tokens", "output_tokens")


def _token_classes(src: data.Source) -> None:
    st.subheader("Tokens at their own price")
    df = data.load_token_classes(src)
    if df.empty:
        ui.empty("No call has reported cached, reasoning or audio tokens yet.")
        return
    shown = [c for c in df.columns if c in _ALWAYS or df[c].any()]
    st.dataframe(df[shown], hide_index=True, column_config=_CLASS_COLUMNS)
    st.caption(
        "Part of the input and output tokens, not on top: each class is billed at the "
        "provider's price for it (cache reads cheaper, cache writes dearer), and spend above "
        "is priced that way."
    )


def _body(settings: Settings, src: data.Source) -> None:
    _scopes(settings, src)
    _forecast(settings, src)
    _series(src)
    _breakdown(src)
    _token_classes(src)


st.title("Spend")
ui.guarded(_body)
