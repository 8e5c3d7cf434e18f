"""Publish: safe folder names, the three files, and 'ready' content."""

from __future__ import annotations

from pathlib import Path

import pytest

from applyflow.application import application_dir, slugify
from applyflow.errors import LayerError
from tests.samples import as_job, sample_postings


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Marlow & Finch", "marlow-finch"),
        ("Senior Engineer (Go/Python)", "senior-engineer-go-python"),
        ("Café Société", "cafe-societe"),
        ("../../etc/passwd", "etc-passwd"),
        ("..", "untitled"),
        ("日本語", "untitled"),
        ("x" * 200, "x" * 60),
    ],
)
def test_slugify_makes_safe_names(text: str, slug: str):
    assert slugify(text) == slug


def test_application_dir_stays_inside_the_output_folder(tmp_path: Path):
    job = as_job(sample_postings()[0])
    hostile = job.model_copy(update={"company": "../../..", "title": "/etc/cron.d/x"})
    folder = application_dir(tmp_path, hostile)
    assert folder.parent.parent == tmp_path.resolve()
    assert folder.parent.name == "untitled"
    assert folder.name == f"etc-cron-d-x-{job.id}"
    # A company folder that is a symlink out of the output folder is refused.
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / slugify(job.company)).symlink_to(elsewhere)
    with pytest.raises(LayerError, match="refusing to write outside"):
        application_dir(out, job)


@pytest.fixture
def publish_ctx(sqlite_store, tmp_path: Path):
    from applyflow.models import utcnow
    from applyflow.settings import load_settings
    from tasks.run import RunContext
    from tests.samples import PROFILE, offline_outputs, sample_posting

    posting = sample_posting("Senior Python Backend Engineer")
    sqlite_store.upsert_job(posting, utcnow())
    for layer, output in offline_outputs(sqlite_store.get_job(posting.id)).items():
        sqlite_store.save_layer_output(posting.id, layer, output)
    settings = load_settings(store_url=sqlite_store.url, output_dir=tmp_path / "out")
    ctx = RunContext("run1", settings, sqlite_store, None, PROFILE)  # type: ignore[arg-type]
    return ctx, posting.id


def test_publish_writes_every_file_and_stores_coverage_once(publish_ctx):
    from applyflow.application import FILES, build_application
    from applyflow.documents import template_version
    from tasks.publish import publish_job

    ctx, job_id = publish_ctx
    assert not publish_job(ctx, job_id).cached
    job = ctx.store.get_job(job_id)
    stored = job.outputs["publish"]
    folder = Path(stored.output["folder"])
    assert [Path(f).name for f in job.files] == list(FILES)
    assert all((folder / name).stat().st_size > 0 for name in FILES)
    assert job.coverage is not None and job.coverage.covered
    app = build_application(job, ctx.profile)
    assert stored.input_hash == app.digest(str(folder), template_version(), "a4")
    assert publish_job(ctx, job_id).cached  # the same texts, template and paper: nothing to do
    ctx.force = True
    assert not publish_job(ctx, job_id).cached
    ctx.force = False
    ctx.settings = ctx.settings.model_copy(update={"paper": "letter"})
    assert not publish_job(ctx, job_id).cached  # another paper size renders again
    (folder / "cv.pdf").unlink()
    assert not publish_job(ctx, job_id).cached  # a missing file is written again
    assert (folder / "cv.pdf").is_file()
