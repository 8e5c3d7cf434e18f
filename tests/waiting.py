"""Waiting in tests: poll a condition with a deadline, never a bare sleep standing in for sync."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

__all__ = ["passes", "wait_for_process", "wait_until"]


def wait_until(
    check: Callable[[], T],
    what: str,
    *,
    timeout: float = 60.0,
    interval: float = 0.05,
    abort: Callable[[], str | None] | None = None,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    Fails naming ``what`` once ``timeout`` seconds pass, or at once when ``abort`` returns a
    reason (e.g. the process being waited on has exited); ``detail`` (a log tail...) is added
    to either message.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        extra = f":\n{detail()}" if detail is not None else ""
        if abort is not None and (why := abort()):
            pytest.fail(f"{why} before {what}{extra}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}{extra}")
        time.sleep(interval)


def passes(action: Callable[[], object], *refusals: type[BaseException]) -> Callable[[], bool]:
    """A check for ``wait_until``: True once ``action`` runs without raising one of ``refusals``."""

    def check() -> bool:
        try:
            action()
        except refusals:
            return False
        return True

    return check


def wait_for_process(
    check: Callable[[], T],
    what: str,
    proc: subprocess.Popen,
    log: Path,
    name: str,
    *,
    timeout: float,
    interval: float = 0.1,
) -> T:
    """``wait_until`` for a condition the process ``name`` should bring about: failing at once
    if it exits first, and showing the end of its ``log`` either way."""
    return wait_until(
        check,
        what,
        timeout=timeout,
        interval=interval,
        abort=lambda: None if proc.poll() is None else f"{name} exited ({proc.returncode})",
        detail=lambda: log.read_text()[-3000:],
    )
