"""Where the dashboard reads from: validated settings, the store (shared per URL), and "now".

"Now" is the live clock, or ``APPLYFLOW_DASHBOARD_NOW`` (an ISO timestamp) so tests can pin it.
A test (or an app embedding these pages) passes its own ``Runtime`` in session state under
``RUNTIME_KEY``; its store factory then opens the stores.
"""

from __future__ import annotations

import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

import streamlit as st

from applyflow.models import as_utc, utcnow
from applyflow.runtime import PRODUCTION, Runtime
from applyflow.settings import Settings, load_settings
from applyflow.store import Store, open_store

__all__ = [
    "NOW_ENV",
    "RUNTIME_KEY",
    "Source",
    "clear_caches",
    "context",
    "now",
    "runtime",
    "store",
]

NOW_ENV = "APPLYFLOW_DASHBOARD_NOW"
RUNTIME_KEY = "applyflow_runtime"


class Source(NamedTuple):
    """What a loader reads from; a tuple so Streamlit's cache can hash it."""

    url: str
    timezone: str
    at: str | None  # pinned "now" (ISO) or None for the live clock
    config: str  # digest of the settings: a settings change misses the cache

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _clock_override() -> str | None:
    """The pinned "now" from ``APPLYFLOW_DASHBOARD_NOW``, validated."""
    raw = os.environ.get(NOW_ENV, "").strip()
    if not raw:
        return None
    try:
        return as_utc(datetime.fromisoformat(raw)).isoformat()
    except ValueError:
        raise ValueError(
            f"{NOW_ENV}={raw!r} is not an ISO timestamp such as 2026-03-02T12:00:00+00:00"
        ) from None


def context() -> tuple[Settings, Source]:
    """Validated settings and the loaders' source (``SettingsError`` / ``ValueError`` if bad)."""
    settings = load_settings()
    digest = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]
    return settings, Source(settings.store_url, settings.timezone, _clock_override(), digest)


def now(src: Source) -> datetime:
    """The dashboard's "now": pinned by ``APPLYFLOW_DASHBOARD_NOW`` or the live UTC clock."""
    return datetime.fromisoformat(src.at) if src.at else utcnow()


def runtime() -> Runtime:
    """This session's ``Runtime``: the one passed in session state, else production's."""
    passed = st.session_state.get(RUNTIME_KEY)
    return passed if isinstance(passed, Runtime) else PRODUCTION


class _StoreThreads:
    """A store whose calls all run on a few long-lived threads.

    Streamlit runs every rerun on a new thread, and a store may keep one connection per
    thread (SQLite does), so calling it directly would open a connection per rerun. A fixed
    pool bounds the dashboard's connections to ``workers``.
    """

    def __init__(self, store: Store, workers: int = 4) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="applyflow-store")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._pool.submit(attr, *args, **kwargs).result()

        return call

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._store.close()


def _close(store: Store) -> None:
    store.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _shared_store(url: str) -> Store:
    return cast(Store, _StoreThreads(open_store(url)))


def store(url: str) -> Store:
    """The store at ``url``: one per URL for the whole server, called from a fixed pool of
    threads; or, when the session's runtime brings a store factory, whatever it gives."""
    factory = runtime().store_factory
    return _shared_store(url) if factory is open_store else factory(url)


def clear_caches() -> None:
    """Forget every loaded data set (after a write, so every page shows it)."""
    st.cache_data.clear()
