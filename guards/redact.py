"""Keep secrets out of errors and logs that come from other libraries.

A provider (or a proxy in front of it) may repeat the API key in its error message
("Incorrect API key provided: sk-..."), and httpx logs every request URL at INFO, which for
the alert webhook is itself a secret. Both are scrubbed here before anything records them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

from applyflow.settings import MASK, Settings

__all__ = ["hide_in_http_logs", "redact", "redact_exception", "secret_values"]

_MIN_SECRET_LEN = 8  # shorter values would mask ordinary words
_KEY_VARIABLES = ("_API_KEY", "_API_TOKEN")


def secret_values(settings: Settings) -> list[str]:
    """The API key in settings plus every provider key in the environment (``*_API_KEY``)."""
    values = {
        value.get_secret_value()
        for value in (settings.api_key, settings.alert_webhook_url, settings.metrics_token)
        if value is not None
    }
    values |= {v for k, v in os.environ.items() if k.endswith(_KEY_VARIABLES)}
    return sorted((v for v in values if len(v) >= _MIN_SECRET_LEN), key=len, reverse=True)


def _scrub(value: object, secrets: list[str]) -> object:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, secrets) for v in value)
    return value


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` masked."""
    return str(_scrub(text, secrets))


def redact_exception(exc: BaseException, secrets: list[str]) -> None:
    """Mask ``secrets`` in the exception, its ``message``/``body`` and its whole chain, in place.

    The exception keeps its type (callers still tell a 401 from a 500); only its text changes.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and secrets:
        seen.add(id(current))
        current.args = tuple(_scrub(a, secrets) for a in current.args)
        for name in ("message", "body"):
            if isinstance(getattr(current, name, None), (str, dict, list)):
                with contextlib.suppress(AttributeError):  # a read-only property
                    setattr(current, name, _scrub(getattr(current, name), secrets))
        current = current.__cause__ or current.__context__


class _HideSecrets(logging.Filter):
    """Masks registered secrets in records of the logger it is attached to."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            secrets = sorted(self.secrets, key=len, reverse=True)
        message = record.getMessage()
        if any(secret in message for secret in secrets):
            record.msg, record.args = _scrub(message, secrets), ()
        return True


_http_filter = _HideSecrets()
logging.getLogger("httpx").addFilter(_http_filter)


def hide_in_http_logs(secret: str) -> None:
    """Mask ``secret`` (e.g. the webhook URL) wherever httpx logs a request."""
    if len(secret) >= _MIN_SECRET_LEN:
        with _http_filter.lock:
            _http_filter.secrets.add(secret)
