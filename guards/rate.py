"""Rate guard: request and token limits per provider on ``limits``, shared through its storage.

Requests use the moving window (exact); tokens use the sliding window counter, whose cost does
not grow with the weight of a hit. A full window is waited out by sleeping until the reset time
the window reports, up to ``APPLYFLOW_RATE_MAX_WAIT_S``; a full daily quota raises at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from pydantic import BaseModel

import guards.rate_sqlite  # noqa: F401  (registers the sqlite:/// storage with limits)
from applyflow.errors import RateLimited
from applyflow.settings import Settings

__all__ = [
    "DEFAULT_REQUEST_LIMITS",
    "OTHER_REQUEST_LIMIT",
    "RateGuard",
    "RateWindow",
    "rate_storage_url",
    "request_limits",
    "token_limits",
]

DEFAULT_REQUEST_LIMITS = {
    "openai": "500/minute",
    "anthropic": "100/minute",
    "openrouter": "60/minute",
}
OTHER_REQUEST_LIMIT = "60/minute"
# Local providers have no provider-side quota: unlimited unless APPLYFLOW_RATE_LIMITS names them.
UNLIMITED_BY_DEFAULT = frozenset({"offline"})
_DAY_S = 86_400
_MIN_STEP_S = 0.005  # re-check no sooner than this, so float rounding never spins the loop
_NAMESPACE = "applyflow"

_storages: dict[str, Storage] = {}
_storages_lock = threading.Lock()


def rate_storage_url(settings: Settings) -> str:
    """The configured storage, else a SQLite file next to a SQLite store, else the Mongo server."""
    if settings.rate_storage_url:
        return settings.rate_storage_url
    if settings.store_kind == "sqlite":
        return f"sqlite:///{settings.data_dir / 'ratelimits.db'}"
    return settings.store_url


def _open_storage(url: str) -> Storage:
    """One storage per URL per process (memory:// is then shared by every guard in it)."""
    with _storages_lock:
        storage = _storages.get(url)
        if storage is None:
            options: dict[str, Any] = {}
            if url.startswith("mongodb"):
                from applyflow.store.mongo import database_name

                # Same database as the store, own collections; fail fast if the server is down.
                options = {
                    "database_name": database_name(url),
                    "counter_collection_name": "ratelimit_counters",
                    "window_collection_name": "ratelimit_windows",
                }
                if "serverselectiontimeoutms" not in url.lower():
                    options["serverSelectionTimeoutMS"] = 5000
            storage = storage_from_string(url, **options)
            _storages[url] = storage
        return storage


def request_limits(settings: Settings, provider: str) -> list[RateLimitItem]:
    """Request limits of ``provider``: its setting, else the default (none for local)."""
    spec = settings.rate_limits.get(provider)
    if spec is None:
        if provider in UNLIMITED_BY_DEFAULT:
            return []
        spec = DEFAULT_REQUEST_LIMITS.get(provider, OTHER_REQUEST_LIMIT)
    return parse_many(spec)


def token_limits(settings: Settings, provider: str) -> list[RateLimitItem]:
    """Token limits of ``provider`` (none unless configured)."""
    spec = settings.token_limits.get(provider)
    return parse_many(spec) if spec else []


class RateWindow(BaseModel):
    """One limit of a provider: what is left of it and when its window next frees up."""

    kind: str  # requests | tokens
    limit: str  # e.g. "500 requests/minute"
    remaining: int
    reset_in_s: float


@dataclass(frozen=True)
class _Check:
    kind: str  # requests | tokens
    item: RateLimitItem
    cost: int


def _label(item: RateLimitItem, kind: str) -> str:
    """``500 requests/minute``, ``200000 tokens/2 hours``."""
    name = item.GRANULARITY.name
    per = f"{item.multiples} {name}s" if item.multiples > 1 else name
    return f"{item.amount} {kind}/{per}"


class RateGuard:
    """Admits calls per provider within every request and token limit, waiting when allowed."""

    def __init__(
        self,
        settings: Settings,
        storage_url: str | None = None,
        *,
        on_quota_exhausted: Callable[[str, str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.storage_url = storage_url or rate_storage_url(settings)
        self.storage = _open_storage(self.storage_url)
        self._moving = MovingWindowRateLimiter(self.storage)
        self._sliding = SlidingWindowCounterRateLimiter(self.storage)
        self._on_quota_exhausted = on_quota_exhausted
        self._sleep = sleep

    def _checks(self, provider: str, tokens: int) -> list[_Check]:
        checks = [_Check("requests", item, 1) for item in request_limits(self.settings, provider)]
        if tokens > 0:
            checks += [
                _Check("tokens", item, tokens) for item in token_limits(self.settings, provider)
            ]
        return checks

    def _limiter(self, check: _Check) -> MovingWindowRateLimiter | SlidingWindowCounterRateLimiter:
        return self._moving if check.kind == "requests" else self._sliding

    def _wait_s(self, provider: str, check: _Check) -> float:
        """Seconds until ``check`` could pass, from the window the storage reports."""
        ids = (_NAMESPACE, provider, check.kind)
        if check.kind == "requests":
            reset = self._moving.get_window_stats(check.item, *ids).reset_time
            return max(0.0, reset - time.time())
        expiry = check.item.get_expiry()
        previous, previous_ttl, current, current_ttl = self.storage.get_sliding_window(
            check.item.key_for(*ids), expiry
        )
        room = check.item.amount - check.cost - current
        if room >= 0:
            if not previous:
                return 0.0  # room now (e.g. the race that refused us has passed)
            # The previous window's weight decays linearly; wait until it leaves enough room.
            return max(0.0, previous_ttl - room * expiry / previous)
        # The current window alone is too full: wait for it to become the previous one.
        return max(0.0, current_ttl - expiry)

    def _first_blocked(
        self, provider: str, checks: list[_Check], *, take: bool, held: set[int] | None = None
    ) -> _Check | None:
        """The first limit without room. ``take``: consume each one with room, adding its
        index to ``held`` so a retry after a lost race never takes it twice."""
        for index, check in enumerate(checks):
            if held is not None and index in held:
                continue
            limiter = self._limiter(check)
            probe = limiter.hit if take else limiter.test
            if not probe(check.item, _NAMESPACE, provider, check.kind, cost=check.cost):
                return check
            if take and held is not None:
                held.add(index)
        return None

    def acquire(self, provider: str, tokens: int = 0) -> None:
        """Take one request (and ``tokens`` tokens) for ``provider``, or raise ``RateLimited``."""
        checks = self._checks(provider, tokens)
        for check in checks:
            if check.cost > check.item.amount:
                raise RateLimited(
                    provider,
                    f"{_label(check.item, check.kind)} (one call needs {check.cost}: lower "
                    "max_tokens or raise the limit)",
                    float(check.item.get_expiry()),
                )
        deadline = time.monotonic() + self.settings.rate_max_wait_s
        held: set[int] = set()  # limits already taken for this call
        while True:
            blocked = self._first_blocked(provider, checks, take=False, held=held)
            if blocked is None:
                # All windows have room; take it. Another process may win a race: re-check.
                blocked = self._first_blocked(provider, checks, take=True, held=held)
                if blocked is None:
                    return
            wait = self._wait_s(provider, blocked)
            label = _label(blocked.item, blocked.kind)
            if blocked.item.get_expiry() >= _DAY_S:
                if self._on_quota_exhausted is not None:
                    self._on_quota_exhausted(provider, label)
                raise RateLimited(provider, label, wait)
            if time.monotonic() + wait > deadline:
                raise RateLimited(provider, label, wait)
            self._sleep(max(wait, _MIN_STEP_S))

    def windows(self, provider: str) -> list[RateWindow]:
        """Each limit of ``provider`` with what is left and when its window next frees up."""
        out = []
        for check in self._checks(provider, 1):
            ids = (_NAMESPACE, provider, check.kind)
            stats = self._limiter(check).get_window_stats(check.item, *ids)
            out.append(
                RateWindow(
                    kind=check.kind,
                    limit=_label(check.item, check.kind),
                    remaining=stats.remaining,
                    reset_in_s=(
                        0.0
                        if stats.remaining >= check.item.amount
                        else round(max(0.0, stats.reset_time - time.time()), 3)
                    ),
                )
            )
        return out
