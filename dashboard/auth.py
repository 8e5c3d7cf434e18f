"""Password gate: required whenever the dashboard listens on anything but loopback."""

from __future__ import annotations

import hmac

import streamlit as st

from applyflow.settings import Settings, is_loopback

__all__ = ["PASSWORD_ENV", "is_loopback", "bind_address", "require_login"]

PASSWORD_ENV = "APPLYFLOW_DASHBOARD_PASSWORD"
_SESSION_KEY = "_applyflow_authenticated"


def bind_address() -> str | None:
    """The address Streamlit listens on; None means every interface (Streamlit's default)."""
    return st.get_option("server.address") or None


def require_login(settings: Settings) -> bool:
    """Let the session through when bound to loopback or after the right password.

    Draws the password form (or the reason the dashboard is closed) and returns False until
    the user may see the data. The password is compared in constant time and never shown.
    """
    host = bind_address()
    if is_loopback(host) or st.session_state.get(_SESSION_KEY):
        return True
    where = host or "all interfaces"
    secret = settings.dashboard_password.get_secret_value() if settings.dashboard_password else ""
    if not secret:
        st.error(
            f"The dashboard listens on {where}, so it needs a password: set `{PASSWORD_ENV}` "
            "and restart, or bind to 127.0.0.1 (`applyflow dashboard` does by default)."
        )
        return False
    with st.form("login"):
        st.subheader("applyflow dashboard")
        typed = st.text_input("Password", type="password", key="_applyflow_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if hmac.compare_digest(typed.encode(), secret.encode()):
            st.session_state[_SESSION_KEY] = True
            del st.session_state["_applyflow_password"]
            st.rerun()
        st.error("Wrong password.")
    return False
