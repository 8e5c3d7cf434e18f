"""The sample postings and profile from samples/, as tests use them: postings, jobs, a queue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from applyflow.models import Job, JobPosting, LayerOutput, utcnow
from applyflow.offline import fill_layer
from applyflow.store import Store
from tasks.ingest import read_file

__all__ = [
    "PROFILE",
    "ROOT",
    "SAMPLES",
    "add_sample_jobs",
    "as_job",
    "offline_outputs",
    "sample_posting",
    "sample_postings",
]

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
PROFILE = (SAMPLES / "profile.md").read_text(encoding="utf-8")


def sample_postings() -> list[JobPosting]:
    postings: list[JobPosting] = []
    for name in ("postings.json", "postings.jsonl", "postings.csv"):
        postings.extend(read_file(SAMPLES / name).postings)
    return postings


def as_job(posting: JobPosting) -> Job:
    """The posting as a stored job would be, without a store."""
    now = utcnow()
    return Job(
        id=posting.id,
        source=posting.source,
        external_id=posting.external_id,
        url=posting.url,
        title=posting.title,
        company=posting.company,
        location=posting.location,
        description=posting.description,
        content_hash=posting.content_hash(),
        ingested_at=now,
        updated_at=now,
    )


def add_sample_jobs(store: Store, n: int, *, skip: int = 0, description: str = "") -> list[str]:
    """Queue ``n`` distinct sample postings (after the first ``skip``); their job ids.

    ``description`` replaces each posting's text when given.
    """
    postings = sample_postings()[skip : skip + n]
    if description:
        postings = [p.model_copy(update={"description": description}) for p in postings]
    return store.upsert_jobs(postings, utcnow()).ids


def sample_posting(title: str) -> JobPosting:
    """The sample posting whose title starts with ``title``."""
    return next(p for p in sample_postings() if p.title.startswith(title))


GENERATED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def offline_outputs(job: Job, profile: str = PROFILE) -> dict[str, LayerOutput]:
    """What the offline model's extract, research, score and generate give for ``job``."""
    posting = {"title": job.title, "company": job.company, "location": job.location,
               "url": job.url, "description": job.description}  # fmt: skip
    data: dict = {"posting": posting, "profile": profile}
    from tasks.extract import EXTRACT
    from tasks.generate import GENERATE
    from tasks.research import RESEARCH
    from tasks.score import SCORE

    outputs = {}
    for layer in (EXTRACT, RESEARCH, SCORE, GENERATE):
        parsed = layer.schema.model_validate(fill_layer(layer.name, data), context={})
        data[layer.name] = parsed.model_dump(mode="json")
        outputs[layer.name] = LayerOutput(
            output=data[layer.name], input_hash="x", model="offline", at=GENERATED_AT
        )
    return outputs
