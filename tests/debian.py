"""Debian tools the tests run for real (Prometheus, promtool, redis-server, PostgreSQL 15):
skipped where missing, except in CI, which must install them (`.ci/run`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["INITDB", "PG_BIN", "PROMETHEUS", "PROMTOOL", "REDIS_SERVER", "require"]

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
REDIS_SERVER = Path("/usr/bin/redis-server")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
INITDB = PG_BIN / "initdb"


def require(binary: Path, package: str) -> Path:
    """``binary``, or a skip (a failure under CI=true) naming the package to install."""
    if binary.is_file():
        return binary
    reason = f"{binary} not found: install Debian's {package!r} package"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run these tests; .ci/run installs it)")
    pytest.skip(reason)
