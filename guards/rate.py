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
    "storage_options",
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


def storage_options(url: str) -> dict[str, Any]:
    """Options for ``limits``' storage at ``url``. MongoDB: the store's database and client
    timeouts, its own collections, and primary reads with majority writes whatever the URI
    says (a window read from a secondary, or lost in a failover, would over-admit)."""
    if not url.startswith("mongodb"):
        return {}
    from applyflow.store.mongo import client_options, database_name

    return {
        **client_options(url),
        "database_name": database_name(url),
        "counter_collection_name": "ratelimit_counters",
        "window_collection_name": "ratelimit_windows",
        "readPreference": "primary",
        "w": "majority",
    }


def _open_storage(url: str) -> Storage:
    """One storage per URL per process (memory:// is then shared by every guard in it)."""
    with _storages_lock:
        storage = _storages.get(url)
        if storage is None:
            storage = storage_from_string(url, **storage_options(url))
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
        storage: Storage | None = None,
    ) -> None:
        self.settings = settings
        self.storage_url = storage_url or rate_storage_url(settings)
        self.storage = storage if storage is not None else _open_storage(self.storage_url)
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

    def _moving_window(self, provider: str, check: _Check) -> tuple[float, int]:
        """(oldest entry's time, weight used) of a request window; an empty one starts now.

        ``limits``' MongoDB storage answers (None, 0) on a real server for a window document
        whose entries have all aged out but that the TTL monitor has not removed yet (it runs
        every 60 s), which ``limits``' own ``get_window_stats`` cannot add to.
        """
        key = check.item.key_for(_NAMESPACE, provider, check.kind)
        start, used = self.storage.get_moving_window(
            key, check.item.amount, check.item.get_expiry()
        )
        return (time.time() if start is None else start), used

    def _wait_s(self, provider: str, check: _Check) -> float:
        """Seconds until ``check`` could pass, from the window the storage reports."""
        ids = (_NAMESPACE, provider, check.kind)
        if check.kind == "requests":
            start, used = self._moving_window(provider, check)
            if used + check.cost <= check.item.amount:
                # Room now: the refusal was a lost race, not a full window (limits' MongoDB
                # storage refuses the loser of two first inserts of a window on a server).
                return 0.0
            return max(0.0, start + check.item.get_expiry() - time.time())
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
            if check.kind == "requests":
                start, used = self._moving_window(provider, check)
                remaining, reset = check.item.amount - used, start + check.item.get_expiry()
            else:
                ids = (_NAMESPACE, provider, check.kind)
                reset, remaining = self._sliding.get_window_stats(check.item, *ids)
            out.append(
                RateWindow(
                    kind=check.kind,
                    limit=_label(check.item, check.kind),
                    remaining=remaining,
                    reset_in_s=(
                        0.0
                        if remaining >= check.item.amount
                        else round(max(0.0, reset - time.time()), 3)
                    ),
                )
            )
        return out
