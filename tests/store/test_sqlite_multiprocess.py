"""SQLiteStore across real processes (spawn): every job is claimed exactly once.

The budget across processes (reservations never passing a cap, a crashed holder's lease) is
tested through the guards in ``tests/guards/test_processes.py``, on the same harness.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from applyflow.store.sqlite import SQLiteStore
from tests import multiproc
from tests.factories import NOW, add_jobs


def _claimer(url: str, worker: str, barrier: Any, results: Any) -> None:
    store = SQLiteStore(url)
    try:
        barrier.wait(multiproc.WAIT_S)
        got: list[str] = []
        while batch := store.claim_jobs(3, worker, 300, NOW):
            got.extend(job.id for job in batch)
        results.put((worker, got))
    finally:
        store.close()


def test_four_processes_claim_every_job_exactly_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store = SQLiteStore(url)
    ids = add_jobs(store, 100)
    got = dict(multiproc.run_together(_claimer, [(url, f"w{i}") for i in range(4)]))
    claimed = [job_id for jobs in got.values() for job_id in jobs]
    assert len(claimed) == 100
    assert set(claimed) == set(ids)
    for job in store.list_jobs(limit=200):
        assert job.id in got[job.claimed_by]
    store.close()
