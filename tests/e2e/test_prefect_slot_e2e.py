"""A slot held by a process that is killed frees itself when its lease expires (real
``prefect server``, whose repossessor reclaims expired leases; the session runs it every 1 s)."""

from __future__ import annotations

import os
import signal
import sys
import uuid

import httpx
import pytest

from guards.slots import MIN_LEASE_S
from tests.e2e.conftest import ROOT, PrefectServer
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

_HOLDER = """
import sys, threading
from guards.slots import slot_client
lease = slot_client().take(sys.argv[1], timeout_s=60, lease_s=float(sys.argv[2]))
print("held", lease.id, flush=True)
threading.Event().wait()  # until killed: a worker dying mid-call
"""


def _active(http: httpx.Client, name: str) -> int:
    response = http.get(f"/v2/concurrency_limits/{name}")
    response.raise_for_status()
    return response.json()["active_slots"]


def _try_take(http: httpx.Client, name: str) -> httpx.Response:
    body = {"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": MIN_LEASE_S}
    return http.post("/v2/concurrency_limits/increment-with-lease", json=body)


def test_a_killed_holders_slot_frees_itself_when_its_lease_expires(
    prefect_server: PrefectServer,
) -> None:
    name = f"llm-e2e{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=prefect_server.api_url, timeout=30) as http:
        http.post("/v2/concurrency_limits/", json={"name": name, "limit": 1}).raise_for_status()
        holder = prefect_server.start(
            "slot-holder",
            [sys.executable, "-c", _HOLDER, name, str(MIN_LEASE_S)],
            prefect_server.env(PYTHONPATH=str(ROOT)),
        )
        wait_until(
            lambda: "held" in holder.output(),
            "the holder took the slot",
            timeout=120,
            abort=lambda: None if holder.alive() else "the holder exited",
            detail=holder.output,
        )
        os.kill(holder.popen.pid, signal.SIGKILL)  # no release, no lease renewal from now on
        holder.popen.wait(timeout=30)
        assert _active(http, name) == 1
        assert _try_take(http, name).status_code == 423  # still held by the dead process
        wait_until(
            lambda: _active(http, name) == 0,
            "the dead holder's lease expired and its slot was reclaimed",
            timeout=MIN_LEASE_S + 60,
            interval=0.5,
        )
        taken = _try_take(http, name)
        assert taken.status_code == 200 and taken.json()["limits"]
        release = {"lease_id": taken.json()["lease_id"]}
        http.post("/v2/concurrency_limits/decrement-with-lease", json=release).raise_for_status()
        assert _active(http, name) == 0
