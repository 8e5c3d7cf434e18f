"""applyflow dashboard entry point: `streamlit run dashboard/app.py` (or `applyflow dashboard`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from applyflow.errors import SettingsError
from dashboard.auth import require_login
from dashboard.data import context

# Not "pages/": Streamlit would also serve a folder by that name as pages of their own,
# reachable by URL before this script (and its password gate) ever runs.
PAGES = Path(__file__).parent / "views"

APP_ICON = ":material/work:"  # one favicon on every page
st.set_page_config(page_title="applyflow", page_icon=APP_ICON, layout="wide")

try:
    settings, _ = context()
except (SettingsError, ValueError) as exc:
    # One message naming every bad variable; nothing else can be shown without settings.
    st.error(f"**Invalid settings** — fix these and restart the dashboard:\n\n```\n{exc}\n```")
    st.stop()

# Pages are registered before the gate so a deep link (/spend) survives signing in; no page
# runs until the session is let through.
allowed = require_login(settings)
page = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(PAGES / "runs.py", title="Runs", icon=":material/play_circle:"),
        st.Page(PAGES / "spend.py", title="Spend", icon=":material/payments:"),
        st.Page(PAGES / "jobs.py", title="Jobs", icon=":material/work:"),
        st.Page(PAGES / "health.py", title="Health", icon=":material/monitor_heart:"),
    ],
    position="sidebar" if allowed else "hidden",
)
if allowed:
    # Every tab reads "<page> · applyflow" under the same icon.
    st.set_page_config(page_title=f"{page.title} · applyflow", page_icon=APP_ICON)
    page.run()
