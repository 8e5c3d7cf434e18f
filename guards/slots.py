"""Prefect global concurrency slots for the price of their round trips.

One long-lived Prefect client per process and API (``slot_client()``), shared by every thread,
takes a slot of a global concurrency limit with one POST (``/v2/concurrency_limits/
increment-with-lease``) and gives it back with one (``/decrement-with-lease``): no per-call
client, event loop, lease-renewal thread or events, which is what Prefect's sync
``concurrency()`` pays ~100 ms for. Prefect's semantics stay: every slot is a lease on the
server, so a holder that dies without releasing frees its slot when the lease expires (the
server's repossessor service reclaims it); one renewal thread per client keeps the leases of
long calls alive.

A full limit answers 423. The waiter retries after a short backoff (10 ms doubling to 250 ms,
or the server's ``Retry-After`` if shorter) instead of the server's hint, which follows the
average occupancy and can be seconds; a slot released in this process wakes this process's
waiters at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

__all__ = ["MIN_LEASE_S", "Lease", "SlotClient", "SlotError", "slot_client"]

logger = logging.getLogger("applyflow.guards")

MIN_LEASE_S = 60.0  # the shortest lease Prefect's API grants
_BACKOFF_S = (0.01, 0.02, 0.05, 0.1, 0.25)  # then 0.25 s per retry
_LOCKED = 423


class SlotError(Exception):
    """The Prefect API refused or failed a slot request (other than "no slot free")."""


@dataclass
class Lease:
    """A held slot: the server's lease id, the limit, when it was taken or last renewed."""

    id: UUID
    name: str
    lease_s: float
    renewed: float = field(default_factory=time.monotonic)


class SlotClient:
    """Slots of Prefect global concurrency limits through one long-lived client.

    ``take`` returns a ``Lease``, or None when the limit does not exist (nothing is held then);
    ``give_back`` releases it. Thread-safe; the HTTP client pools its connections.
    """

    def __init__(self, client: Any) -> None:
        self._client = client  # a started SyncPrefectClient
        self._held: dict[UUID, Lease] = {}
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._generation: dict[str, int] = {}  # per limit: bumped on each local release
        self._renewer: threading.Thread | None = None
        self._closed = threading.Event()

    # --- taking and giving back ---------------------------------------------------------
    def take(
        self, name: str, *, timeout_s: float, lease_s: float = 300.0, holder: Any = None
    ) -> Lease | None:
        """One slot of ``name``, waiting up to ``timeout_s``; ``TimeoutError`` after that."""
        import httpx

        deadline = time.monotonic() + timeout_s
        attempt = 0
        while True:
            with self._lock:
                generation = self._generation.get(name, 0)
            try:
                response = self._client.increment_concurrency_slots_with_lease(
                    names=[name], slots=1, mode="concurrency", lease_duration=lease_s,
                    holder=holder,
                )  # fmt: skip
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != _LOCKED:
                    raise SlotError(_describe(exc)) from exc
                delay = _backoff(attempt, exc.response.headers.get("Retry-After"))
            except httpx.HTTPError as exc:
                raise SlotError(f"{type(exc).__name__}: {exc}") from exc
            else:
                return self._granted(name, lease_s, response.json())
            attempt += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name!r} slot was free within {timeout_s:g} s")
            self._wait_for_release(name, generation, min(delay, left))

    def _granted(self, name: str, lease_s: float, body: dict[str, Any]) -> Lease | None:
        lease = Lease(UUID(body["lease_id"]), name, lease_s)
        if not body.get("limits"):
            # No such limit: the server still made an (empty) lease; drop it.
            self._release(lease.id)
            return None
        with self._lock:
            self._held[lease.id] = lease
            if lease_s and self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_loop, name="applyflow-slot-leases", daemon=True
                )
                self._renewer.start()
        return lease

    def _wait_for_release(self, name: str, generation: int, delay: float) -> None:
        with self._freed:
            if self._generation.get(name, 0) == generation:
                self._freed.wait(delay)

    def give_back(self, lease: Lease) -> None:
        """Release ``lease``; a failure is logged (the lease then expires on the server)."""
        with self._lock:
            self._held.pop(lease.id, None)
        try:
            self._release(lease.id)
        except Exception as exc:  # the slot frees itself when its lease expires
            logger.warning(
                "could not release a %r slot (%s); it frees itself within %g s",
                lease.name, _describe(exc), lease.lease_s,
            )  # fmt: skip
        with self._freed:
            self._generation[lease.name] = self._generation.get(lease.name, 0) + 1
            self._freed.notify_all()

    def _release(self, lease_id: UUID) -> None:
        self._client.release_concurrency_slots_with_lease(lease_id=lease_id)

    def held(self) -> int:
        """Leases this process holds now."""
        with self._lock:
            return len(self._held)

    # --- keeping long leases alive --------------------------------------------------------
    def _renew_loop(self) -> None:
        while not self._closed.wait(MIN_LEASE_S / 3):
            self.renew_due(time.monotonic())

    def renew_due(self, now: float) -> int:
        """Renew each lease held for a third of its duration (the renewal thread calls this
        every 20 s, so a lease never gets near its end); how many were renewed."""
        with self._lock:
            due = [x for x in self._held.values() if now - x.renewed >= x.lease_s / 3]
        renewed = 0
        for lease in due:
            try:
                self._client.renew_concurrency_lease(
                    lease_id=lease.id, lease_duration=lease.lease_s
                )
            except Exception as exc:  # a lost lease only means the slot may be over-used
                logger.warning("could not renew a %r lease: %s", lease.name, _describe(exc))
                continue
            lease.renewed, renewed = now, renewed + 1
        return renewed

    @property
    def api(self) -> Any:
        """The Prefect client the slots go through (benchmarks time plain calls on it)."""
        return self._client

    def close(self) -> None:
        self._closed.set()
        self._client.__exit__(None, None, None)


def _backoff(attempt: int, retry_after: str | None) -> float:
    delay = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
    try:
        hint = float(retry_after) if retry_after else None
    except ValueError:
        hint = None
    return min(delay, hint) if hint is not None and hint > 0 else delay


def _describe(exc: BaseException) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        detail = exc.response.text[:200].strip()
        return f"HTTP {exc.response.status_code} from {exc.request.url.path}: {detail}"
    return f"{type(exc).__name__}: {exc}"


_clients: dict[tuple[int, str], SlotClient] = {}
_clients_lock = threading.Lock()


def _api_url() -> str:
    """The API this process talks to (as ``prefect.get_client`` decides it)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if url:
        return url
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # ephemeral mode's own server, started once per process
    server.start()
    return server.api_url


def slot_client() -> SlotClient:
    """This process's ``SlotClient`` for the current Prefect API (made on first use)."""
    url = _api_url()
    key = (os.getpid(), url)  # a forked child makes its own
    with _clients_lock:
        found = _clients.get(key)
        if found is not None:
            return found
        from prefect.client.orchestration import SyncPrefectClient
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY

        client = SyncPrefectClient(
            url, auth_string=PREFECT_API_AUTH_STRING.value(), api_key=PREFECT_API_KEY.value()
        )
        client.__enter__()
        made = _clients[key] = SlotClient(client)
        return made
