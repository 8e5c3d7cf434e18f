"""`applyflow export JOB_ID`: render one job's documents again from its stored texts (after a
template, paper or profile change), with no model call."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from applyflow.application import application_dir, build_application, write_files
from applyflow.cli._app import JsonFlag, app, console, fail, handle_errors, print_json
from applyflow.cli._session import settings, store_session


class ExportFormat(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    MD = "md"


@app.command()
@handle_errors
def export(
    job_id: Annotated[str, typer.Argument(help="Job id (see `applyflow jobs`).")],
    formats: Annotated[
        list[ExportFormat] | None,
        typer.Option("--format", "-f", help="pdf, docx or md (repeat for several); default all."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder to write to; default the job's.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Render a job's CV and cover letter again (PDF, DOCX, Markdown): no model call."""
    cfg = settings()
    with store_session(cfg) as store:
        job = store.get_job(job_id)
    try:
        profile = cfg.profile.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read the profile {cfg.profile} (APPLYFLOW_PROFILE): {exc}") from None
    font_dirs = tuple(str(d) for d in cfg.font_dirs)
    application = build_application(job, profile, font_dirs=font_dirs)
    chosen = tuple(dict.fromkeys(f.value for f in formats or ExportFormat))
    folder = out or application_dir(cfg.output_dir, job)
    written = write_files(folder, application.render(chosen, cfg.paper, font_dirs))
    if as_json:
        print_json({"job": job.id, "folder": str(folder), "files": [str(p) for p in written]})
        return
    names = ", ".join(p.name for p in written)
    console.print(
        f"{job.id} {job.title} @ {job.company}: wrote {names} to {folder}", highlight=False
    )
