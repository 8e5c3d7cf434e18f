"""What a live run's model calls are waiting on, kept on its ``Run`` row (``Run.waiting``).

The guarded call marks each wait that may be long (the rate windows, a Prefect slot) as it
starts and ends, through ``ModelGuard.waits``. A wait still going ``REPORT_AFTER_S`` later is
written to the store, the oldest first with the time it began, and cleared once none is left.
One writer thread per run does it, alive only while something waits, so a free slot taken in
~100 ms never costs a store write and the calls themselves never wait on the store.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from applyflow.models import RunWait
from applyflow.store import Store

__all__ = ["REPORT_AFTER_S", "RunWaits", "due"]

logger = logging.getLogger("applyflow.tasks")

REPORT_AFTER_S = 1.0


@dataclass(frozen=True)
class _Wait:
    kind: str
    detail: str | None
    since: datetime  # the run's clock: what the dashboard shows
    began: float  # monotonic: what the report delay is measured on


def due(waits: Iterable[_Wait], now: float, after_s: float) -> _Wait | None:
    """The oldest wait that has lasted ``after_s`` seconds at monotonic ``now``, else None."""
    lasting = [w for w in waits if now - w.began >= after_s]
    return min(lasting, key=lambda w: w.began) if lasting else None


class RunWaits:
    """The waits of one run's calls, reported to its ``Run`` row."""

    def __init__(
        self,
        run_id: str,
        store: Store,
        clock: Callable[[], datetime],
        after_s: float = REPORT_AFTER_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_id, self.store, self.after_s = run_id, store, after_s
        self._clock, self._monotonic = clock, monotonic
        self._waits: dict[int, _Wait] = {}
        self._tokens = itertools.count()
        self._cond = threading.Condition()
        self._shown: RunWait | None = None
        self._writer: threading.Thread | None = None

    @contextmanager
    def waiting(self, kind: str, detail: str | None = None) -> Iterator[None]:
        """Mark the block as a call waiting on ``kind`` (rate | breaker | slot)."""
        with self._cond:
            token = next(self._tokens)
            self._waits[token] = _Wait(kind, detail, self._clock(), self._monotonic())
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write, name=f"applyflow-waits-{self.run_id}", daemon=True
                )
                self._writer.start()
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                del self._waits[token]
                self._cond.notify()

    def _wanted(self, now: float) -> RunWait | None:
        wait = due(self._waits.values(), now, self.after_s)
        if wait is None:
            return None
        return RunWait(kind=wait.kind, since=wait.since, detail=wait.detail)

    def _timeout(self, now: float) -> float | None:
        """Seconds until the next wait not yet due becomes due (None: none will)."""
        pending = [w.began + self.after_s - now for w in self._waits.values()]
        pending = [s for s in pending if s > 0]
        return min(pending) if pending else None

    def _write(self) -> None:
        while True:
            with self._cond:
                now = self._monotonic()
                wanted = self._wanted(now)
                if wanted == self._shown:
                    if not self._waits:
                        self._writer = None  # nothing waits and nothing is shown: done
                        return
                    self._cond.wait(timeout=self._timeout(now))
                    continue
            try:
                self.store.set_run_waiting(self.run_id, wanted)
            except Exception as exc:  # noqa: BLE001 - a report must never break the run
                logger.warning("could not record what run %s waits on: %s", self.run_id, exc)
            with self._cond:
                self._shown = wanted
