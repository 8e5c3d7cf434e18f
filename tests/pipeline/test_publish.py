"""Publish: safe folder names, the three files, and 'ready' content."""

from __future__ import annotations

from pathlib import Path

import pytest

from applyflow.errors import LayerError
from applyflow.application import application_dir, slugify
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
