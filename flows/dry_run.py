"""A dry run's scratch world: a throwaway SQLite copy of the jobs it forecasts, with settings
that point every write (store, rate windows, files, alerts) into a temporary folder.

The dry run then runs the pipeline's own code on that copy, so its forecast counts the calls
the real run would make (stored outputs that are up to date stay cached), and nothing it does
can change a job, an output, a file, a budget counter or a usage row of the real store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from applyflow.models import Job
from applyflow.settings import Settings
from applyflow.store import Store
from applyflow.store.sqlite import SQLiteStore

__all__ = ["scratch_copy"]


@contextmanager
def scratch_copy(settings: Settings, jobs: Sequence[Job]) -> Iterator[tuple[Settings, Store]]:
    """Settings and a store holding copies of ``jobs``, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="applyflow-dry-run-") as folder:
        scratch = settings.model_copy(
            update={
                "store_url": f"sqlite:///{Path(folder) / 'dry-run.db'}",
                "output_dir": Path(folder) / "output",
                "rate_storage_url": "memory://",
                "alert_webhook_url": None,
            }
        )
        store = SQLiteStore(scratch.store_url)
        try:
            store.copy_in(jobs)
            yield scratch, store
        finally:
            store.close()
