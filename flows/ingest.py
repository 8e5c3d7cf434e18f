"""Ingest flow: read every source, upsert its postings into ``jobs``, report what was rejected.

Jobs are keyed by fingerprint, so ingesting the same postings twice reports them ``unchanged``
and adds nothing. A bad record is reported with its source and line/row and skipped; a source
that cannot be read at all is reported and the other sources still land.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from applyflow.errors import InputError
from applyflow.models import utcnow
from applyflow.settings import get_settings
from applyflow.store import open_store
from flows.hooks import on_flow_failure
from tasks.postings import Rejection, SourceBatch
from tasks.sources import expand_sources, read_source

__all__ = ["ARTIFACT_KEY", "ingest"]

ARTIFACT_KEY = "ingest-report"


@task(
    name="read-source", task_run_name="read-{source}", cache_policy=NO_CACHE, persist_result=False
)
def read_source_task(source: str, base_url: str | None = None) -> SourceBatch:
    """Read and normalise one source (HTTP sources retry transient errors themselves)."""
    return read_source(source, settings=get_settings(), base_url=base_url)


def _rejection(item: Rejection) -> dict[str, Any]:
    return {"source": item.source, "where": item.where, "reason": item.reason}


@flow(name="ingest", on_failure=[on_flow_failure])
def ingest(sources: list[str] | None = None, base_url: str | None = None) -> dict[str, Any]:
    """Ingest postings from files (.json/.jsonl/.csv or a folder), greenhouse:BOARD, lever:COMPANY.

    ``sources`` defaults to APPLYFLOW_SOURCES; ``base_url`` overrides the job-board API address.
    """
    settings = get_settings()
    logger = get_run_logger()
    wanted = expand_sources(list(sources or settings.sources))
    if not wanted:
        raise InputError("ingest", None, "no sources: pass SOURCE... or set APPLYFLOW_SOURCES")
    report: dict[str, Any] = {
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "rejections": [],
        "sources": [],
        "job_ids": [],
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
    }
    store = open_store(settings)
    try:
        for source in wanted:
            entry: dict[str, Any] = {"source": source, "postings": 0, "rejected": 0, "error": None}
            try:
                batch = read_source_task(source, base_url)
            except Exception as caught:
                # Any failure to read one source (even a reader bug) is that source's rejection:
                # the other sources still land.
                exc = caught
                if not isinstance(exc, InputError):
                    reason = f"could not read: {type(caught).__name__}: {caught}"
                    exc = InputError(source, None, reason)
                entry["error"] = str(exc)
                report["rejections"].append(
                    {"source": exc.source, "where": exc.where, "reason": exc.reason}
                )
                report["rejected"] += 1
                logger.warning("source %s not read: %s", source, exc)
                report["sources"].append(entry)
                continue
            # The same posting twice in one source: the last one wins, so ingesting the source
            # again finds nothing to update.
            unique = list({posting.id: posting for posting in batch.postings}.values())
            upserted = store.upsert_jobs(unique, utcnow())
            for outcome in ("inserted", "updated", "unchanged"):
                report[outcome] += getattr(upserted, outcome)
            report["job_ids"].extend(upserted.ids)
            report["rejections"].extend(_rejection(r) for r in batch.rejections)
            report["rejected"] += len(batch.rejections)
            entry.update(postings=len(batch.postings), rejected=len(batch.rejections))
            report["sources"].append(entry)
            logger.info(
                "%s: %d postings (%d new), %d rejected",
                source,
                len(batch.postings),
                upserted.inserted,
                len(batch.rejections),
            )
    finally:
        store.close()
    if report["rejections"]:
        create_table_artifact(
            table=report["rejections"][:500],
            key=ARTIFACT_KEY,
            description=(
                f"Ingest: {report['inserted']} inserted, {report['updated']} updated, "
                f"{report['unchanged']} unchanged, {report['rejected']} rejected"
            ),
        )
    return report
