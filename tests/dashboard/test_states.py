"""Empty, unreachable and misconfigured stores, and the password gate: no page ever crashes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from applyflow.runtime import Runtime
from dashboard import data
from tests.conftest import make_store
from tests.dashboard.conftest import MONGOMOCK_URL, AppEnv

Opener = Callable[..., AppTest]
PAGES = ["overview", "runs", "spend", "jobs", "health"]


@pytest.fixture(params=["sqlite", "mongomock"])
def empty_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_env: AppEnv
) -> None:
    store = make_store(request.param, tmp_path)
    if request.param == "sqlite":
        monkeypatch.setenv("APPLYFLOW_STORE_URL", store.url)
        store.close()
        return
    monkeypatch.setenv("APPLYFLOW_STORE_URL", MONGOMOCK_URL)
    # mongomock is in-process only: the guards' rate windows cannot live in it.
    monkeypatch.setenv("APPLYFLOW_RATE_STORAGE_URL", "memory://")
    app_env.runtime = Runtime(store_factory=lambda url: store)


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_shows_friendly_empty_states(
    empty_store: None, open_app: Opener, page: str
) -> None:
    at = open_app(page)
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.info, "an empty page says what to do next"


def test_empty_overview_shows_zero_cards(empty_store: None, open_app: Opener) -> None:
    at = open_app()
    assert [m.value for m in at.metric][:4] == ["0", "0", "0", "0"]
    assert any("No jobs yet" in i.value for i in at.info)


def test_empty_overview_says_no_run_and_no_spend(empty_store: None, open_app: Opener) -> None:
    at = open_app()
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Spent today"], shown["Spent this month"]) == ("$0.0000", "$0.0000")
    assert shown["Applications to follow up"] == "0"
    assert any("No run is going" in c.value for c in at.caption)


def test_empty_spend_page_has_empty_states_not_empty_charts(
    empty_store: None, open_app: Opener
) -> None:
    at = open_app("spend")
    infos = [i.value for i in at.info]
    assert "Nothing spent in the last 30 days." in infos
    assert "Nothing spent in the last 24 hours." in infos
    assert not at.get("vega_lite_chart"), "no chart of zeros"
    assert any("no average to use" in c.value for c in at.caption)


@pytest.mark.parametrize("page", PAGES)
def test_unreachable_sqlite_store_is_an_error_with_the_fix(
    app_env: None, monkeypatch: pytest.MonkeyPatch, open_app: Opener, page: str
) -> None:
    monkeypatch.setenv("APPLYFLOW_STORE_URL", "sqlite:////proc/nonexistent/x.db")
    at = open_app(page)
    assert not at.exception
    messages = [e.value for e in at.error]
    assert any("Cannot read the store" in m and "APPLYFLOW_STORE_URL" in m for m in messages)
    assert any("/proc/nonexistent/x.db" in m for m in messages)


@pytest.mark.parametrize("page", ["overview", "health"])
def test_unreachable_mongodb_is_an_error_with_the_masked_url(
    app_env: None, monkeypatch: pytest.MonkeyPatch, open_app: Opener, page: str, unused_port: int
) -> None:
    url = f"mongodb://admin:hunter2@127.0.0.1:{unused_port}/applyflow?serverSelectionTimeoutMS=200"
    monkeypatch.setenv("APPLYFLOW_STORE_URL", url)
    at = open_app(page)
    assert not at.exception
    messages = [e.value for e in at.error]
    assert any("Cannot read the store" in m for m in messages)
    assert all("hunter2" not in m for m in messages), "the store password is never shown"
    assert any("admin:**********@" in m for m in messages)


def test_invalid_settings_list_every_bad_variable(
    app_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLYFLOW_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("APPLYFLOW_BUDGET_WARN_AT", "7")
    at = AppTest.from_file(str(data_app()), default_timeout=30).run()
    assert not at.exception
    (error,) = at.error
    assert "Invalid settings" in error.value
    assert "APPLYFLOW_TIMEZONE" in error.value and "APPLYFLOW_BUDGET_WARN_AT" in error.value
    assert not at.metric


def test_invalid_pinned_clock_is_named(app_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.NOW_ENV, "yesterday")
    at = AppTest.from_file(str(data_app()), default_timeout=30).run()
    assert not at.exception
    assert data.NOW_ENV in at.error[0].value and "ISO timestamp" in at.error[0].value


def data_app() -> Path:
    return Path(data.__file__).with_name("app.py")


@pytest.fixture
def public_bind(app_env: None) -> None:
    """The app as if served on every interface."""
    st_config.set_option("server.address", "0.0.0.0")


def test_public_bind_without_password_refuses(
    public_bind: None, empty_store: None, app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("APPLYFLOW_DASHBOARD_PASSWORD", raising=False)
    at = app_env.app().run()
    assert not at.exception
    assert "APPLYFLOW_DASHBOARD_PASSWORD" in at.error[0].value
    assert not at.metric and not at.text_input


def test_public_bind_asks_for_the_password(
    public_bind: None, empty_store: None, app_env: AppEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "correct horse battery"
    monkeypatch.setenv("APPLYFLOW_DASHBOARD_PASSWORD", secret)
    at = app_env.app().run()
    assert not at.metric, "nothing is shown before the password"
    at.text_input(key="_applyflow_password").input("wrong")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert not at.metric
    at.text_input(key="_applyflow_password").input(secret)
    at.button[0].click().run()
    assert not at.exception
    assert [m.label for m in at.metric][:4] == ["Today", "This week", "This month", "Total"]
    shown = (
        [e.value for e in at.markdown] + [e.value for e in at.error] + [e.value for e in at.info]
    )
    assert all(secret not in text for text in shown)
