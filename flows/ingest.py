"""Ingest flow: read every source, upsert its postings into ``jobs``, report what was rejected.

Jobs are keyed by fingerprint, so ingesting the same postings twice reports them ``unchanged``
and adds nothing; the same posting on another source is linked to its job; a changed posting
updates its job and sends a finished one back to the queue (``requeued``). A bad record is
reported with its source and line/row and skipped; a source that cannot be read at all is
reported and the other sources still land.
"""

from __future__ import annotations

from dataclasses import asdict
from logging import Logger, LoggerAdapter

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from applyflow.errors import InputError
from applyflow.runtime import current_runtime
from applyflow.settings import get_settings
from applyflow.store import Store
from flows.hooks import on_flow_failure
from flows.results import IngestReport, SourceOutcome
from tasks.ingest import Rejection, SourceBatch, expand_sources, read_source_task

__all__ = ["ARTIFACT_KEY", "NO_SOURCES", "ingest"]

ARTIFACT_KEY = "ingest-report"
ARTIFACT_ROWS = 500
NO_SOURCES = (
    "nothing to ingest: no sources were given and APPLYFLOW_SOURCES is empty; set it "
    "(e.g. APPLYFLOW_SOURCES=greenhouse:BOARD,postings.json) or pass sources to the run"
)

RunLogger = Logger | LoggerAdapter


def _unreadable(report: IngestReport, source: str, caught: Exception, logger: RunLogger) -> None:
    """A source that could not be read at all: one rejection naming why."""
    exc = caught
    if not isinstance(exc, InputError):
        # Even a reader bug is that source's rejection: the other sources still land.
        exc = InputError(source, None, f"could not read: {type(caught).__name__}: {caught}")
    where = None if exc.where is None else str(exc.where)
    report.rejections.append(Rejection(exc.source, where, exc.reason))
    report.rejected += 1
    report.sources.append(SourceOutcome(source=source, error=str(exc)))
    logger.warning("source %s not read: %s", source, exc)


def _land(
    report: IngestReport, store: Store, source: str, batch: SourceBatch, logger: RunLogger
) -> None:
    """Upsert a source's postings and count its rejections."""
    # The same posting twice in one source: the last one wins, so ingesting the source again
    # finds nothing to update.
    unique = list({posting.id: posting for posting in batch.postings}.values())
    upserted = store.upsert_jobs(unique, current_runtime().clock())
    for count in ("inserted", "linked", "updated", "requeued", "unchanged"):
        setattr(report, count, getattr(report, count) + getattr(upserted, count))
    report.job_ids.extend(upserted.ids)
    report.rejections.extend(batch.rejections)
    report.rejected += len(batch.rejections)
    report.sources.append(
        SourceOutcome(source=source, postings=len(batch.postings), rejected=len(batch.rejections))
    )
    logger.info(
        "%s: %d postings (%d new, %d linked, %d requeued), %d rejected",
        source,
        len(batch.postings),
        upserted.inserted,
        upserted.linked,
        upserted.requeued,
        len(batch.rejections),
    )


def _publish(report: IngestReport) -> None:
    """The rejections as a table artifact (none when every record landed)."""
    if report.rejections:
        create_table_artifact(
            table=[asdict(r) for r in report.rejections[:ARTIFACT_ROWS]],
            key=ARTIFACT_KEY,
            description=(
                f"Ingest: {report.inserted} inserted, {report.linked} linked, "
                f"{report.updated} updated ({report.requeued} requeued), "
                f"{report.unchanged} unchanged, {report.rejected} rejected"
            ),
        )


@flow(name="ingest", on_failure=[on_flow_failure])
def ingest(sources: list[str] | None = None, base_url: str | None = None) -> IngestReport:
    """Ingest postings from files (.json/.jsonl/.csv or a folder) and job boards: greenhouse:BOARD,
    lever:COMPANY, ashby:BOARD, smartrecruiters:COMPANY, recruitee:COMPANY, workable:ACCOUNT.

    ``sources`` defaults to APPLYFLOW_SOURCES; ``base_url`` overrides the job-board API address.
    With neither, there is nothing to read: the run says so and completes (so the hourly
    ``ingest`` deployment never fails on a machine that has no sources configured yet).
    """
    settings = get_settings()
    logger = get_run_logger()
    wanted = expand_sources(list(sources or settings.sources))
    report = IngestReport(flow_run_id=str(flow_run.id) if flow_run.id else None)
    if not wanted:
        logger.warning(NO_SOURCES)
        return report
    store = current_runtime().store_factory(settings.store_url)
    try:
        for source in wanted:
            try:
                batch = read_source_task(source, base_url)
            except Exception as exc:
                _unreadable(report, source, exc, logger)
                continue
            _land(report, store, source, batch, logger)
    finally:
        store.close()
    _publish(report)
    return report
