"""Alerts: logged, stored with de-duplication, POSTed to a loopback webhook exactly once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from guards.alerts import alert


def test_webhook_gets_exactly_one_alert_per_dedup_window(make_settings, store, webhook) -> None:
    settings = make_settings(alert_webhook_url=webhook.url, alert_dedup_s=300)
    t0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
    sent = [
        alert(settings, store, "flow_failed", "flow:pipeline", "pipeline failed", "error", now=t)
        for t in (t0, t0 + timedelta(seconds=10), t0 + timedelta(seconds=299))
    ]
    assert sent == [True, False, False]
    assert webhook.bodies == [{"text": "applyflow error: pipeline failed"}]
    assert alert(settings, store, "flow_failed", "flow:other", "other failed", "error", now=t0)
    assert alert(settings, store, "flow_failed", "flow:pipeline", "failed again", "error",
                 now=t0 + timedelta(seconds=301))  # fmt: skip
    assert [b["text"] for b in webhook.bodies] == [
        "applyflow error: pipeline failed",
        "applyflow error: other failed",
        "applyflow error: failed again",
    ]
    assert len(store.list_alerts()) == 3


def test_failed_webhook_is_logged_never_raised_nor_leaks_the_url(
    make_settings, store, webhook, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.status = 500
    settings = make_settings(alert_webhook_url=webhook.url)
    with caplog.at_level(logging.WARNING, logger="applyflow"):
        assert alert(settings, store, "budget_warning", "k1", "day budget at 85%")
    assert "HTTP 500" in caplog.text
    closed = make_settings(alert_webhook_url="http://127.0.0.1:9/hooks/T000-SECRET-TOKEN")
    with caplog.at_level(logging.WARNING, logger="applyflow"):
        assert alert(closed, store, "budget_warning", "k2", "total budget at 90%")
    assert "unreachable" in caplog.text
    assert "SECRET-TOKEN" not in caplog.text
    assert {a.key for a in store.list_alerts()} == {"k1", "k2"}  # recorded regardless


def test_alert_without_webhook_is_logged_and_stored(
    make_settings, store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="applyflow"):
        assert alert(make_settings(), store, "breaker_closed", "b", "openai breaker closed", "info")
    assert "[breaker_closed] openai breaker closed" in caplog.text
    with pytest.raises(ValueError, match="level 'loud'"):
        alert(make_settings(), store, "x", "y", "z", "loud")
