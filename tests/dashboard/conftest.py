"""Dashboard fixtures: the app under AppTest, bound to loopback, "now" pinned, a seeded store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from applyflow.runtime import Runtime
from applyflow.store import Store
from dashboard import data
from tests.conftest import make_store
from tests.dashboard.seed import Seeded, seed
from tests.loopback import Handler, free_port, serve

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday afternoon
MONGOMOCK_URL = "mongodb://mongomock.test/applyflow_test"


@dataclass
class AppEnv:
    """What the app under test is given: the runtime its session runs with."""

    runtime: Runtime = field(default_factory=Runtime)

    def app(self) -> AppTest:
        """The dashboard as an AppTest whose session carries ``runtime`` (not yet run)."""
        at = AppTest.from_file(str(APP), default_timeout=30)
        at.session_state[data.RUNTIME_KEY] = self.runtime
        return at


def _forget_caches() -> None:
    """No data set or store from another test: loaders and shared stores start empty."""
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppEnv]:
    """Loopback bind, pinned clock, no Prefect, fresh caches; all restored afterwards."""
    monkeypatch.chdir(tmp_path)  # no developer .env is read
    monkeypatch.setenv(data.NOW_ENV, NOW.isoformat())
    monkeypatch.setenv("APPLYFLOW_BUDGET_DAILY_USD", "0.045")
    for name in ("PREFECT_API_URL", "PREFECT_UI_URL"):
        monkeypatch.delenv(name, raising=False)
    address = st_config.get_option("server.address")
    st_config.set_option("server.address", "127.0.0.1")
    _forget_caches()
    try:
        yield AppEnv()
    finally:
        _forget_caches()
        st_config.set_option("server.address", address)


@pytest.fixture(params=["sqlite", "mongomock"])
def seeded(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_env: AppEnv
) -> Iterator[tuple[Store, Seeded]]:
    """A seeded store the app reads: SQLite by its URL, mongomock through the same client."""
    store = make_store(request.param, tmp_path)
    ids = seed(store, NOW, UTC)
    if request.param == "sqlite":
        monkeypatch.setenv("APPLYFLOW_STORE_URL", store.url)
    else:
        monkeypatch.setenv("APPLYFLOW_STORE_URL", MONGOMOCK_URL)
        # mongomock is in-process only: the guards' rate windows cannot live in it.
        monkeypatch.setenv("APPLYFLOW_RATE_STORAGE_URL", "memory://")
        app_env.runtime = Runtime(store_factory=lambda url: store)
    try:
        yield store, ids
    finally:
        store.close()


@pytest.fixture
def open_app(app_env: AppEnv) -> Callable[..., AppTest]:
    """Run the dashboard (optionally on one page) and return the AppTest."""

    def _open(page: str | None = None) -> AppTest:
        at = app_env.app().run()
        if page:
            at.switch_page(f"views/{page}.py").run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    return _open


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


class _Health(Handler):
    """Answers like Prefect's API: ``GET /api/health`` -> 200."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        ok = self.path == "/api/health"
        self.reply(200 if ok else 404, b"true" if ok else b"not found")


@pytest.fixture
def health_server() -> Iterator[str]:
    """A loopback HTTP server standing in for the Prefect API's health route; its base URL."""
    with serve(_Health) as base:
        yield base
