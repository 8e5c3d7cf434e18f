"""Pieces every page shares: the store-failure message, empty states, colours by state."""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Callable

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler
from pymongo.errors import PyMongoError

from applyflow.errors import StoreError
from applyflow.models import ProgressStatus
from applyflow.settings import Settings, mask_url
from applyflow.spend import ScopeState
from dashboard.source import Source, context

__all__ = [
    "STORE_ERRORS",
    "guarded",
    "store_failed",
    "empty",
    "EMPTY",
    "pick",
    "tinted",
    "STATE_COLOURS",
    "literal",
    "heading",
]

# What a store that is down, missing or misconfigured raises.
STORE_ERRORS: tuple[type[BaseException], ...] = (StoreError, sqlite3.Error, PyMongoError, OSError)


def store_failed(src: Source, exc: BaseException) -> None:
    """``st.error`` naming the (masked) store, the reason and how to fix it."""
    reason = str(exc).strip() or type(exc).__name__
    st.error(
        f"**Cannot read the store** `{mask_url(src.url)}`: {reason}\n\n"
        "Fix: check `APPLYFLOW_STORE_URL` (`applyflow config` shows it); for SQLite the folder "
        "must exist and be writable, for MongoDB the server must be running and reachable. "
        "`applyflow health` checks it. Then reload this page.",
        icon=":material/database:",
    )


def guarded(body: Callable[[Settings, Source], None]) -> None:
    """Run a page body with fresh settings; a store failure becomes ``st.error``, not a trace."""
    settings, src = context()
    try:
        body(settings, src)
    except STORE_ERRORS as exc:
        store_failed(src, exc)


def empty(message: str) -> None:
    """A friendly empty state."""
    st.info(message, icon=":material/inbox:")


def pick(label: str, ids: list[str], labels: dict[str, str], wanted: str | None, key: str) -> str:
    """A select box of ``ids`` shown by ``labels``, on ``wanted`` when it is one of them."""
    index = ids.index(wanted) if wanted in ids else 0
    return st.selectbox(label, ids, index=index, format_func=labels.get, key=key)


def literal(text: str) -> str:
    """Untrusted text (a posting's title...) for Markdown: a code span, never a link or image."""
    return "`` " + text.replace("`", "'") + " ``"


def heading(text: str) -> None:
    """A subheading of untrusted text, escaped as HTML (no Markdown, no autolinks)."""
    st.html(f'<h3 class="applyflow-heading" style="margin:0">{html.escape(text)}</h3>')


# Shown where there is no value (no cap, no average yet).
EMPTY = "—"


# Background per state word (budget states and layer statuses), readable in light and dark themes.
TONES: dict[str, str] = {
    ScopeState.OK: "#2f9e4433",
    ProgressStatus.COMPLETED: "#2f9e4433",
    ProgressStatus.CACHED: "#1c7ed633",
    ProgressStatus.RUNNING: "#1c7ed633",
    ScopeState.WARNING: "#f08c0033",
    ScopeState.CRITICAL: "#e8590c55",
    ScopeState.EXCEEDED: "#e0313155",
    ProgressStatus.FAILED: "#e0313155",
}


# A budget state's colour where Streamlit takes a colour name (metric deltas, badges).
STATE_COLOURS: dict[str, str] = {
    ScopeState.OK: "green",
    ScopeState.WARNING: "orange",
    ScopeState.CRITICAL: "orange",
    ScopeState.EXCEEDED: "red",
    ScopeState.UNLIMITED: "gray",
}


def _tone(value: object) -> str:
    word = str(value).split(" ", 1)[0]
    return f"background-color: {TONES[word]}" if word in TONES else ""


def tinted(df: pd.DataFrame, columns: list[str] | None = None) -> Styler:
    """``df`` with cells coloured by the state word they start with (ok, failed, ...)."""
    return df.style.map(_tone, subset=columns)
