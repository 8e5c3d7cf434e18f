"""Prefect global concurrency slots for the price of their round trips.

One long-lived Prefect client per process and API (``slot_client()``), shared by every thread,
takes a slot of a global concurrency limit with one POST (``/v2/concurrency_limits/
increment-with-lease``) and gives it back with one (``/decrement-with-lease``): no per-call
client, event loop, lease-renewal thread or events, which is what Prefect's sync
``concurrency()`` pays ~100 ms for. Prefect's semantics stay: every slot is a lease on the
server, so a holder that dies without releasing frees its slot when the lease expires (the
server's repossessor service reclaims it); one renewal thread per client keeps the leases of
long calls alive.

A full limit answers 423, and a busy server 503 (its database locked). Either is retried after
a short backoff (10 ms doubling to 250 ms, or the server's ``Retry-After`` if shorter) rather
than the server's hint (which follows the average occupancy and can be seconds) or the Prefect
client's own retries (1-2 s): slot requests go straight to the client's httpx transport, with
its base URL, auth and TLS settings. Giving a slot back does not wait: a releaser thread tells
the server after ``LINGER_S``; until then a taker in this process takes the lease over with no
API call (``MAX_REUSE`` times in a row at most, then it is released at once), and a give-back
wakes this process's waiters.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

__all__ = [
    "LINGER_S",
    "MAX_REUSE",
    "MIN_LEASE_S",
    "Lease",
    "SlotClient",
    "SlotError",
    "slot_client",
]

logger = logging.getLogger("applyflow.guards")

MIN_LEASE_S = 60.0  # the shortest lease Prefect's API grants
_BACKOFF_S = (0.01, 0.02, 0.05, 0.1, 0.25)  # then 0.25 s per retry
_LOCKED = 423  # no slot free
_BUSY = (408, 429, 502, 503)  # the server asks to try again (503: its database is busy)
_TRANSPORT_RETRIES = 3
MAX_REUSE = 8  # a given-back slot taken over this often in a row goes back to the server
LINGER_S = 0.1  # how long a given-back slot waits for a taker in this process
_RELEASE_S = 2.0
_INCREMENT = "/v2/concurrency_limits/increment-with-lease"
_DECREMENT = "/v2/concurrency_limits/decrement-with-lease"


class SlotError(Exception):
    """The Prefect API refused or failed a slot request (other than "no slot free")."""


@dataclass
class Lease:
    """A held slot: the server's lease id, the limit, when it was taken or last renewed."""

    id: UUID
    name: str
    lease_s: float
    renewed: float = field(default_factory=time.monotonic)
    reuses: int = 0  # times taken over by this process before its release was sent
    release_at: float = 0.0  # monotonic time its pending release is due


class SlotClient:
    """Slots of Prefect global concurrency limits through one long-lived client.

    ``take`` returns a ``Lease``, or None when the limit does not exist (nothing is held then);
    ``give_back`` releases it. Thread-safe; the HTTP client pools its connections.
    """

    def __init__(self, client: Any, *, background: bool = True) -> None:
        """``background=False``: releases wait in the queue until ``flush()`` sends them (tests
        use it to look at a pending release)."""
        import httpx

        self._client = client  # a started SyncPrefectClient
        # Its httpx client (base URL, auth, TLS), sent to directly: see ``_post``.
        self._http: httpx.Client = client._client
        self._held: dict[UUID, Lease] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a release queued or done
        self._generation: dict[str, int] = {}  # per limit: bumped on each local give-back
        self._pending: deque[Lease] = deque()  # given back, not yet released on the server
        self._sending = 0  # releases popped from _pending and still being sent
        self._background = background
        self._renewer: threading.Thread | None = None
        self._releaser: threading.Thread | None = None
        self._closed = threading.Event()

    # --- taking and giving back ---------------------------------------------------------
    def take(
        self, name: str, *, timeout_s: float, lease_s: float = 300.0, holder: Any = None
    ) -> Lease | None:
        """One slot of ``name``, waiting up to ``timeout_s``; ``TimeoutError`` after that.

        A slot this process gave back whose release has not been sent yet is taken over
        first, with no API call (at most ``MAX_REUSE`` times in a row, so other processes
        get their turn)."""
        body: dict[str, Any] = {"names": [name], "slots": 1, "mode": "concurrency",
                                "lease_duration": lease_s}  # fmt: skip
        if holder is not None:
            body["holder"] = holder.model_dump(mode="json")
        deadline = time.monotonic() + timeout_s
        attempt = failures = 0
        while True:
            with self._lock:
                if (reused := self._reuse(name)) is not None:
                    return reused
                generation = self._generation.get(name, 0)
            response = self._post(_INCREMENT, body)
            if response is None:
                failures += 1  # a dropped keep-alive connection: try again at once
                if failures > _TRANSPORT_RETRIES:
                    raise SlotError(f"no connection to the Prefect API at {self._http.base_url}")
                continue
            if response.status_code == 200:
                return self._granted(name, lease_s, response.json())
            if response.status_code not in (_LOCKED, *_BUSY):
                raise SlotError(_describe_response(response))
            delay = _backoff(attempt, response.headers.get("Retry-After"))
            attempt += 1
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name!r} slot was free within {timeout_s:g} s")
            with self._changed:
                if self._generation.get(name, 0) == generation:
                    self._changed.wait(min(delay, left))

    def _reuse(self, name: str) -> Lease | None:
        """(Under the lock) a pending release of ``name`` taken back, or None."""
        for lease in self._pending:
            if lease.name == name and lease.reuses < MAX_REUSE:
                self._pending.remove(lease)
                lease.reuses += 1
                self._held[lease.id] = lease
                return lease
        return None

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        """One POST, without the Prefect client's own retries (which sleep 1-2 s on a busy
        server's 503): the response, or None when the connection failed."""
        import httpx

        try:
            request = self._http.build_request("POST", path, json=body)
            # Prefect's client turns its CSRF support off after its first change request to a
            # server without CSRF protection (the default); until then, or with protection
            # on, requests go through it (tokens, and its slower retries).
            if not getattr(self._http, "enable_csrf_support", False):
                return httpx.Client.send(self._http, request)
            try:
                return self._http.send(request)
            except httpx.HTTPStatusError as exc:
                return exc.response
        except httpx.TransportError:
            return None

    def _granted(self, name: str, lease_s: float, body: dict[str, Any]) -> Lease | None:
        lease = Lease(UUID(body["lease_id"]), name, lease_s)
        if not body.get("limits"):
            # No such limit: the server still made an (empty) lease; drop it.
            self._release(lease)
            return None
        with self._lock:
            self._held[lease.id] = lease
            if lease_s and self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_loop, name="applyflow-slot-leases", daemon=True
                )
                self._renewer.start()
        return lease

    def give_back(self, lease: Lease) -> None:
        """Give ``lease`` back without waiting: the releaser thread tells the server (a failure
        is logged; the lease then expires there) unless a taker here takes it over first. Until
        then the slot still counts as held on the server, so a limit is never exceeded."""
        with self._changed:
            self._held.pop(lease.id, None)
            # One taken over MAX_REUSE times cannot be again: it goes back at once, so the
            # taker that needs a new slot does not find it still counted on the server.
            linger = LINGER_S if lease.reuses < MAX_REUSE else 0.0
            lease.release_at = time.monotonic() + linger
            self._pending.append(lease)
            self._generation[lease.name] = self._generation.get(lease.name, 0) + 1
            if self._releaser is None and self._background:
                self._releaser = threading.Thread(
                    target=self._release_loop, name="applyflow-slot-releases", daemon=True
                )
                self._releaser.start()
            self._changed.notify_all()

    def _release_loop(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                # Kept LINGER_S for a taker here (a job's next layer, another job's call).
                wait = _next_due(self._pending).release_at - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
            self._send_one()

    def _send_one(self) -> None:
        """Release the pending lease due first on the server (if one is still pending)."""
        with self._changed:
            if not self._pending:
                return
            lease = _next_due(self._pending)
            self._pending.remove(lease)
            self._sending += 1
        try:
            self._release(lease)
        except Exception as exc:  # the slot frees itself when its lease expires
            logger.warning(
                "could not release a %r slot (%s); it frees itself within %g s",
                lease.name, _describe(exc), lease.lease_s,
            )  # fmt: skip
        finally:
            with self._changed:
                self._sending -= 1
                self._generation[lease.name] = self._generation.get(lease.name, 0) + 1
                self._changed.notify_all()

    def flush(self) -> None:
        """Release every slot given back on the server now (no linger), and wait for it."""
        while True:
            with self._changed:
                if not self._pending:
                    if not self._sending:
                        return
                    self._changed.wait()
                    continue
            self._send_one()

    def _release(self, lease: Lease) -> None:
        """Decrement-with-lease, retried quickly while the server is busy (up to ~2 s)."""
        deadline = time.monotonic() + _RELEASE_S
        attempt = 0
        while True:
            response = self._post(_DECREMENT, {"lease_id": str(lease.id)})
            if response is not None and response.status_code < 300:
                return
            if response is not None and response.status_code not in _BUSY:
                raise SlotError(_describe_response(response))
            if time.monotonic() >= deadline:
                raise SlotError(_describe_response(response) if response else "no connection")
            time.sleep(_backoff(attempt, None))
            attempt += 1

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
        self.flush()
        self._closed.set()
        self._client.__exit__(None, None, None)


def _next_due(pending: deque[Lease]) -> Lease:
    """The pending release due first."""
    return min(pending, key=lambda lease: lease.release_at)


def _backoff(attempt: int, retry_after: str | None) -> float:
    delay = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
    try:
        hint = float(retry_after) if retry_after else None
    except ValueError:
        hint = None
    return min(delay, hint) if hint is not None and hint > 0 else delay


def _describe_response(response: Any) -> str:
    detail = response.text[:200].strip()
    return f"HTTP {response.status_code} from {response.request.url.path}: {detail}"


def _describe(exc: BaseException) -> str:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        return _describe_response(exc.response)
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
        atexit.register(made.flush)  # releases still queued reach the server before exit
        return made
