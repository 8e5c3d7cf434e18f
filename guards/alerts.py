"""Alerts: logged, recorded in the store with de-duplication, and POSTed to a webhook if set.

The webhook gets Slack-compatible JSON (``{"text": ...}``). A failing webhook is logged and
never breaks the caller; its URL is a secret and is never logged.
"""

from __future__ import annotations

import logging
from datetime import datetime

from applyflow.models import Alert, utcnow
from applyflow.settings import Settings
from applyflow.store import Store

__all__ = ["LEVELS", "alert", "post_webhook"]

logger = logging.getLogger("applyflow.alerts")

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
WEBHOOK_TIMEOUT_S = 5.0


def post_webhook(settings: Settings, text: str) -> bool:
    """POST ``{"text": text}`` to the alert webhook; False (logged, not raised) on failure."""
    if settings.alert_webhook_url is None:
        return False
    url = settings.alert_webhook_url.get_secret_value()
    if not url:
        return False
    import httpx  # only when a webhook is configured

    from guards.redact import hide_in_http_logs

    # httpx logs each request's URL at INFO; this URL is the secret.
    hide_in_http_logs(url)
    hide_in_http_logs(str(httpx.URL(url)))
    try:
        response = httpx.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT_S)
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        logger.warning(
            "alert webhook answered HTTP %s; alert kept in the store only", exc.response.status_code
        )
        return False
    except httpx.HTTPError as exc:
        # The exception text can contain the URL, which is a secret: log only its type.
        logger.warning(
            "alert webhook unreachable (%s); alert kept in the store only", type(exc).__name__
        )
        return False
    return True


def alert(
    settings: Settings,
    store: Store,
    kind: str,
    key: str,
    message: str,
    level: str = "warning",
    *,
    dedup_s: float | None = None,
    now: datetime | None = None,
) -> bool:
    """Raise an alert once per ``key`` per de-duplication window; True if it was new."""
    if level not in LEVELS:
        raise ValueError(f"alert level {level!r} is not one of {sorted(LEVELS)}")
    window = settings.alert_dedup_s if dedup_s is None else dedup_s
    record = Alert(key=key, kind=kind, level=level, message=message, at=now or utcnow())
    fresh = store.record_alert(record, window)
    if not fresh:
        logger.debug("alert %s suppressed (sent within the last %ss)", key, window)
        return False
    logger.log(LEVELS[level], "[%s] %s", kind, message)
    post_webhook(settings, f"applyflow {level}: {message}")
    return True
