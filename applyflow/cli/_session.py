"""Settings and the store, as a command gets them: bad settings exit 2, an unreachable store
is one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from applyflow.cli._app import EXIT_USAGE, fail
from applyflow.errors import ApplyflowError, SettingsError
from applyflow.settings import Settings, get_settings, mask_url
from applyflow.store import Store, open_store


def settings() -> Settings:
    """Validated settings; invalid ones exit 2 with one message naming every bad variable."""
    try:
        return get_settings()
    except SettingsError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


@contextmanager
def store_session(cfg: Settings | None = None) -> Iterator[Store]:
    """The configured store; unreachable -> a clear error naming the (masked) URL."""
    cfg = cfg or settings()
    try:
        store = open_store(cfg)
    except ApplyflowError as exc:
        url, message = mask_url(cfg.store_url), str(exc)
        # The stores' own errors usually name the URL already; say it once.
        raise fail(message if url in message else f"cannot open store {url}: {message}") from None
    try:
        yield store
    finally:
        store.close()
