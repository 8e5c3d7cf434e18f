"""Pipeline test helpers: sample postings as jobs, layer input without a live run."""

from __future__ import annotations

from pathlib import Path

import pytest

from applyflow.models import Job, JobPosting, utcnow
from applyflow.settings import load_settings
from tasks.ingest import read_file
from tasks.run import RunContext

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
PROFILE = (SAMPLES / "profile.md").read_text(encoding="utf-8")


def sample_postings() -> list[JobPosting]:
    postings: list[JobPosting] = []
    for name in ("postings.json", "postings.jsonl", "postings.csv"):
        postings.extend(read_file(SAMPLES / name).postings)
    return postings


def as_job(posting: JobPosting) -> Job:
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


@pytest.fixture
def input_context(tmp_path: Path) -> RunContext:
    """What ``Layer.build_input`` reads (settings and profile); no store or guard is touched."""
    settings = load_settings(store_url=f"sqlite:///{tmp_path}/unused.db", output_dir=tmp_path)
    return RunContext(
        run_id="test",
        settings=settings,
        store=None,
        guard=None,
        profile=PROFILE,  # type: ignore[arg-type]
    )
