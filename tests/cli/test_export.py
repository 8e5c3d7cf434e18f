"""`applyflow export JOB_ID`: the job's documents rendered again from the store, no model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from applyflow.cli import app
from applyflow.models import utcnow
from applyflow.settings import get_settings
from applyflow.store.sqlite import SQLiteStore
from tests.samples import SAMPLES, offline_outputs, sample_posting
from tests.texts import pdf_text


@pytest.fixture
def stored_job(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A job whose layers have run (the offline model's outputs), with nothing published."""
    monkeypatch.setenv("APPLYFLOW_PROFILE", str(SAMPLES / "profile.md"))
    monkeypatch.setenv("APPLYFLOW_OUTPUT_DIR", str(cli_env / "out"))
    get_settings.cache_clear()
    store = SQLiteStore(f"sqlite:///{cli_env / 'store.db'}")
    posting = sample_posting("Data Engineer")
    store.upsert_job(posting, utcnow())
    for layer, output in offline_outputs(store.get_job(posting.id)).items():
        store.save_layer_output(posting.id, layer, output)
    store.close()
    return posting.id


def test_export_renders_the_chosen_formats_without_a_model_call(
    runner: CliRunner, cli_env: Path, stored_job: str
):
    result = runner.invoke(app, ["export", stored_job, "--format", "pdf", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    folder = Path(data["folder"])
    assert folder.parent.parent == (cli_env / "out").resolve()
    assert sorted(p.name for p in folder.iterdir()) == ["cover_letter.pdf", "cv.pdf"]
    assert "Verdant Grid" in pdf_text((folder / "cover_letter.pdf").read_bytes())
    everything = runner.invoke(app, ["export", stored_job, "-o", str(cli_env / "mine")])
    assert everything.exit_code == 0, everything.output
    assert sorted(p.name for p in (cli_env / "mine").iterdir()) == sorted(
        ["cv.md", "cover_letter.md", "dossier.md", "cv.pdf", "cover_letter.pdf",
         "cv.docx", "cover_letter.docx"]
    )  # fmt: skip
    store = SQLiteStore(f"sqlite:///{cli_env / 'store.db'}")
    try:
        assert store.usage_total().calls == 0  # no model was asked
    finally:
        store.close()


def test_letter_paper_from_the_setting(
    runner: CliRunner, cli_env: Path, stored_job: str, monkeypatch: pytest.MonkeyPatch
):
    import io

    from pdfminer.high_level import extract_pages

    monkeypatch.setenv("APPLYFLOW_PAPER", "letter")
    get_settings.cache_clear()
    result = runner.invoke(app, ["export", stored_job, "-f", "pdf", "-o", "x", "--json"])
    assert result.exit_code == 0, result.output
    [page] = extract_pages(io.BytesIO((cli_env / "x" / "cv.pdf").read_bytes()))
    assert (round(page.width), round(page.height)) == (612, 792)


def test_export_errors_are_one_line(runner: CliRunner, cli_env: Path, stored_job: str):
    unknown = runner.invoke(app, ["export", "nope"])
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "error: no job with id 'nope'; `applyflow jobs` lists the ids"
    bad = runner.invoke(app, ["export", stored_job, "--format", "odt"])
    assert bad.exit_code == 2 and "'odt' is not one of" in bad.output
    store = SQLiteStore(f"sqlite:///{cli_env / 'store.db'}")
    fresh = sample_posting("Frontend Engineer")
    store.upsert_job(fresh, utcnow())
    store.close()
    empty = runner.invoke(app, ["export", fresh.id])
    assert empty.exit_code == 1
    assert empty.output.strip() == (
        f"error: publish layer failed: job {fresh.id} has no extract output yet; run it first"
    )
