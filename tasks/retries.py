"""Retry policies that tasks declare: how often and how long apart, and which errors qualify.

Provider and store hiccups are retried; guard refusals and bad model output are not (a retry
would be refused again, or pay for the same bad answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from applyflow.errors import ApplyflowError, GuardError, LayerError, StoreError

__all__ = ["LAYER_RETRIES", "RetryPolicy", "failure_of", "is_retryable"]


def is_retryable(exc: BaseException) -> bool:
    """Provider and store hiccups are retried; refusals and bad model output are not."""
    if isinstance(exc, (GuardError, LayerError)):
        return False
    return not isinstance(exc, ApplyflowError) or isinstance(exc, StoreError)


def failure_of(state: State) -> BaseException | None:
    """The exception a failed task state holds."""
    try:
        value = state.result(raise_on_failure=False)
    except Exception as exc:  # a result that cannot be read is itself the failure
        return exc
    return value if isinstance(value, BaseException) else None


def _retry_condition(task_: Task, task_run: TaskRun, state: State) -> bool:
    exc = failure_of(state)
    return exc is None or is_retryable(exc)


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more tries, ``delays_s`` apart (the last repeats), jittered by ``jitter``."""

    retries: int
    delays_s: tuple[float, ...]
    jitter: float = 0.5

    def task_options(self) -> dict[str, Any]:
        """Keyword arguments of ``prefect.task`` for this policy."""
        return {
            "retries": self.retries,
            "retry_delay_seconds": list(self.delays_s),
            "retry_jitter_factor": self.jitter,
            "retry_condition_fn": _retry_condition,
        }


# Every layer task: two more tries, 2 s then 8 s later.
LAYER_RETRIES = RetryPolicy(retries=2, delays_s=(2.0, 8.0))
