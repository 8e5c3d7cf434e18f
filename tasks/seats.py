"""A run's job seats: how many of its jobs are in their model layers at once.

``APPLYFLOW_JOB_CONCURRENCY`` seats per run. A job takes one before it starts and gives it up
as soon as no model call is left for it (before publish, which only renders and writes files),
so the next job's calls overlap its rendering and the provider is not left idle meanwhile.
Giving up is idempotent: the run gives a job's seat up again when its task ends, however it
ended.
"""

from __future__ import annotations

import threading

__all__ = ["Seats"]


class Seats:
    """``count`` seats, taken and given up by job id."""

    def __init__(self, count: int) -> None:
        self._free = count
        self._held: set[str] = set()
        self._cond = threading.Condition()

    def take(self, job_id: str) -> None:
        """Wait for a free seat and give it to ``job_id``."""
        with self._cond:
            while self._free == 0:
                self._cond.wait()
            self._free -= 1
            self._held.add(job_id)

    def give_up(self, job_id: str) -> None:
        """``job_id``'s seat is free again (nothing happens when it holds none)."""
        with self._cond:
            if job_id in self._held:
                self._held.discard(job_id)
                self._free += 1
                self._cond.notify()

    def held(self) -> int:
        with self._cond:
            return len(self._held)
