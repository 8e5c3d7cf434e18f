"""Where the dashboard reads from: validated settings, the store (shared per URL), and "now".

"Now" is the live clock, or ``APPLYFLOW_DASHBOARD_NOW`` (an ISO timestamp) so tests can pin it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

import streamlit as st

from applyflow.models import as_utc, utcnow
from applyflow.settings import Settings, load_settings
from applyflow.store import Store, open_store

__all__ = [
    "NOW_ENV",
    "Source",
    "StoreFactory",
    "clear_caches",
    "context",
    "now",
    "store",
    "use_store_factory",
]

NOW_ENV = "APPLYFLOW_DASHBOARD_NOW"
StoreFactory = Callable[[str], Store]
_factory: StoreFactory = open_store


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


def use_store_factory(factory: StoreFactory | None) -> None:
    """Open stores with ``factory`` (tests share one mongomock client); None restores the URL."""
    global _factory
    _factory = factory or open_store
    store.clear()
    clear_caches()


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
def store(url: str) -> Store:
    """One store per URL for the whole server, called from a fixed pool of threads."""
    return cast(Store, _StoreThreads(_factory(url)))


def clear_caches() -> None:
    """Forget every loaded data set (after a write, so every page shows it)."""
    st.cache_data.clear()
