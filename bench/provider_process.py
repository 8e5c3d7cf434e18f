"""The practice provider in a process of its own, for benchmarks that time a paid run.

A real provider answers from another machine: its CPU and its interpreter lock are not the
pipeline's. ``start_offline_provider`` serves from a thread of the calling process, where the
provider's request handling competes with the run it is timing. ``ProviderProcess`` runs the
same server as ``python -m bench.provider_process LATENCY`` and asks it for its request log
over its stdin/stdout, one JSON line each way. The child's ``time.monotonic()`` is the same
system-wide clock (CLOCK_MONOTONIC), so its arrival times compare with the parent's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PROFILE", "Arrival", "ProviderProcess", "paid_env"]

PROFILE = Path(__file__).resolve().parent.parent / "samples" / "profile.md"


def paid_env(folder: Path, base_url: str, model: str) -> dict[str, str]:
    """Settings of a paid run on a loopback provider at ``base_url``: a fresh store and output
    folder under ``folder``, the sample profile, a key, ``model`` at its real price."""
    return {
        "APPLYFLOW_STORE_URL": f"sqlite:///{folder / 'applyflow.db'}",
        "APPLYFLOW_OUTPUT_DIR": str(folder / "output"),
        "APPLYFLOW_PROFILE": str(PROFILE),
        "APPLYFLOW_MODEL": model,
        "APPLYFLOW_BASE_URL": base_url,
        "APPLYFLOW_API_KEY": "practice",
    }


@dataclass(frozen=True)
class Arrival:
    """One request as the provider saw it: monotonic arrival and answer times."""

    arrived: float
    answered: float | None
    layer: str | None


class ProviderProcess:
    """``applyflow offline-provider``'s server in a child process; ``stop()`` it after."""

    def __init__(self, latency_s: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.provider_process", str(latency_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line:
            self._process.kill()
            raise RuntimeError("the offline provider process did not start")
        self.url: str = json.loads(line)["url"]

    @property
    def requests(self) -> list[Arrival]:
        """Every request so far, in arrival order."""
        assert self._process.stdin and self._process.stdout
        self._process.stdin.write("requests\n")
        self._process.stdin.flush()
        return [Arrival(*row) for row in json.loads(self._process.stdout.readline())]

    def stop(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()  # end of input: the child stops its server and exits
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> ProviderProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _serve(latency_s: float) -> None:
    from applyflow.offline_provider import start_offline_provider

    provider = start_offline_provider(latency_s=latency_s)
    try:
        print(json.dumps({"url": provider.url}), flush=True)
        for command in sys.stdin:
            if command.strip() == "requests":
                rows = [(r.arrived, r.answered, r.layer) for r in provider.requests]
                print(json.dumps(rows), flush=True)
    finally:
        provider.stop()


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
