"""Which jobs a pipeline run takes: the queue, or jobs named by id (``run --job ID``).

No Prefect here: the CLI checks named ids with it before any flow starts, so an unknown id
is one line and exit 2 in well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

from applyflow.errors import InputError, JobNotFound
from applyflow.models import Job, Status
from applyflow.store import Store
from applyflow.store.jobs import HELD_STATUSES

__all__ = ["QUEUE_STATUSES", "check_job_ids", "named_statuses", "queued_jobs"]

QUEUE_STATUSES = (Status.NEW,)


def named_statuses(force: bool) -> tuple[Status, ...]:
    """What a named job may be in to be taken: anything but a live claim; an application
    (held in its status, ``HELD_STATUSES``) only with ``force``."""
    return tuple(s for s in Status if s != Status.PROCESSING and (force or s not in HELD_STATUSES))


def check_job_ids(store: Store, job_ids: Sequence[str], force: bool) -> list[Job]:
    """The named jobs, or one ``InputError`` naming every unknown id and every application
    named without ``force``."""
    jobs, unknown, held = [], [], []
    for job_id in dict.fromkeys(job_ids):
        try:
            job = store.get_job(job_id)
        except JobNotFound:
            unknown.append(job_id)
            continue
        jobs.append(job)
        if job.status in HELD_STATUSES and not force:
            held.append(f"{job.id} is {job.status.value}")
    problems = []
    if unknown:
        problems.append(f"no job with id {', '.join(unknown)} (`applyflow jobs` lists the ids)")
    if held:
        problems.append(
            f"{'; '.join(held)}: an application's documents are made again only with --force "
            "(the job keeps its status)"
        )
    if problems:
        raise InputError("--job", None, "; ".join(problems))
    return jobs


def queued_jobs(store: Store, limit: int) -> list[Job]:
    """The ``limit`` queued jobs a run would claim next, in claim order (oldest ingested)."""
    queued = store.list_jobs(status=QUEUE_STATUSES, limit=1_000_000)
    return sorted(queued, key=lambda job: (job.ingested_at, job.id))[:limit]
