"""One provider limit in a real Redis, shared by several real `applyflow run` processes.

Three processes, each with three queued jobs (12 model calls wanted, 36 in all), call a priced
OpenAI-compatible loopback provider limited to 10 requests a minute in Redis, without waiting
(``APPLYFLOW_RATE_MAX_WAIT_S=0``). The provider must record exactly 10 arrivals, all inside one
minute: per-process windows would have let 30 through. (That admissions spaced over several
windows also arrive spaced at the provider is the guard order's business: issue #18.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from applyflow.models import RunStatus
from applyflow.settings import load_settings
from guards.rate import RateGuard
from tests.e2e._helpers import APPLYFLOW, Workspace
from tests.e2e.conftest import PrefectServer, Proc
from tests.reliability.fake_openai import FakeOpenAI, running
from tests.samples import add_sample_jobs
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

PROCESSES, JOBS_EACH, LIMIT = 3, 3, 10
CALLS_PER_JOB = 4  # extract, research, score, generate (publish calls no model)
RUN_S = 180.0


def _summary(output: str) -> dict:
    """The `--json` summary in a process's output (Prefect may log around it)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line == "{":
            return json.JSONDecoder().raw_decode("\n".join(lines[i:]))[0]
    raise AssertionError(f"no JSON summary in:\n{output[-3000:]}")


@pytest.fixture
def provider() -> Iterator[FakeOpenAI]:
    yield from running()


def test_processes_sharing_a_redis_window_admit_the_limit_once(
    prefect_server: PrefectServer,
    redis_url: str,
    provider: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    ws = Workspace(prefect_server, tmp_path_factory.mktemp("redis-rate"))
    with ws.store() as store:
        add_sample_jobs(store, PROCESSES * JOBS_EACH)
    limits = json.dumps({"openai": f"{LIMIT}/minute"})
    env = ws.env(
        APPLYFLOW_MODEL="openai:gpt-4o-mini",  # priced by genai-prices: every call is billed
        APPLYFLOW_BASE_URL=provider.url,
        APPLYFLOW_API_KEY="sk-fake-e2e-0000",
        APPLYFLOW_BUDGET_TOTAL_USD="100",
        APPLYFLOW_RATE_STORAGE_URL=redis_url,
        APPLYFLOW_RATE_LIMITS=limits,
        APPLYFLOW_RATE_MAX_WAIT_S="0",
        APPLYFLOW_MODEL_MAX_RETRIES="0",
        APPLYFLOW_JOB_CONCURRENCY="1",
        APPLYFLOW_MIN_FIT="0",  # no fit gate: every job wants all its calls
    )
    procs: list[Proc] = [
        prefect_server.start(
            f"run-{n}", [APPLYFLOW, "run", "--limit", str(JOBS_EACH), "--json"], env
        )
        for n in range(PROCESSES)
    ]
    for proc in procs:
        wait_until(lambda p=proc: not p.alive(), f"{proc.name} to end", timeout=RUN_S)
    outputs = [proc.output(tail=1_000_000) for proc in procs]
    # Each run stopped on the shared limit, which is exit status 1 (its --json is printed).
    assert [proc.popen.returncode for proc in procs] == [1] * PROCESSES, outputs
    summaries = [_summary(out) for out in outputs]

    arrivals = sorted(request.at for request in provider.requests)
    assert len(arrivals) == LIMIT, [s["calls"] for s in summaries]  # not 10 per process
    assert arrivals[-1] - arrivals[0] < 60  # all inside one window
    assert len(provider.billed()) == LIMIT
    # Each process wanted 12 calls and was stopped by the shared limit, never by its own.
    assert [s["status"] for s in summaries] == [RunStatus.STOPPED.value] * PROCESSES
    assert all("10 requests/minute" in s["stop_reason"] for s in summaries), summaries
    assert sum(s["calls"] for s in summaries) == LIMIT
    with ws.store() as store:
        assert store.usage_total().calls == LIMIT  # the ledger agrees with the provider
    settings = load_settings(rate_storage_url=redis_url, rate_limits=limits)
    [window] = RateGuard(settings).windows("openai")
    assert window.remaining == 0 and 0 < window.reset_in_s <= 60
    assert JOBS_EACH * CALLS_PER_JOB > LIMIT  # every process alone would pass the limit
