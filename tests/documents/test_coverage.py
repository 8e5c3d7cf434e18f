"""Keyword coverage: the posting's skills and keywords, covered by the CV, left out, lacking."""

from __future__ import annotations

from applyflow.application import build_application
from applyflow.coverage import keyword_coverage
from tests.samples import PROFILE, as_job, offline_outputs, sample_posting


def test_each_term_is_covered_left_out_or_lacking():
    coverage = keyword_coverage(
        ["Python", "Kafka", "gRPC"], ["pipelines", "python", "ferries"],
        "Python services and event pipelines", PROFILE,
    )  # fmt: skip
    assert coverage.keywords == ["Python", "Kafka", "gRPC", "pipelines", "ferries"]
    assert coverage.covered == ["Python", "pipelines"]
    assert coverage.left_out == ["Kafka"]  # in the profile, not in this CV
    assert coverage.lacking == ["gRPC", "ferries"]
    assert coverage.percent == 40


def test_the_dossier_and_the_stored_figures_agree():
    job = as_job(sample_posting("Go Backend Engineer"))
    job.outputs = offline_outputs(job)
    app = build_application(job, PROFILE)
    cov, dossier = app.coverage, app.texts["dossier.md"]
    extract = job.outputs["extract"].output
    assert cov.keywords[: len(extract["skills"])] == extract["skills"]
    assert "gRPC" in cov.lacking and "Go" in cov.covered
    assert "## Keyword coverage" in dossier
    assert f"### Covered by the CV ({len(cov.covered)})" in dossier
    assert f"### Not in the profile ({len(cov.lacking)})" in dossier
    assert f"({cov.percent}%)" in dossier
