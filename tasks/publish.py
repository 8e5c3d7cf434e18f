"""Layer 5, publish: write the job's application files under the output folder.

``OUTPUT_DIR/<company>/<title>-<job id>/``: ``cv.md``, ``cover_letter.md``, ``dossier.md``,
``cv.pdf``, ``cover_letter.pdf``, ``cv.docx``, ``cover_letter.docx`` (``applyflow.application``
makes them). No model call. The stored output holds the files, the keyword coverage and the
notes; the job then ends ``ready``, or ``needs_review`` when its claims check found
unsupported claims (the dossier lists them).
"""

from __future__ import annotations

from applyflow.application import FILES, application_dir, build_application, write_files
from applyflow.documents import template_version
from applyflow.models import LayerOutput, utcnow
from tasks.layers import layer_task
from tasks.progress import LayerResult
from tasks.retries import LAYER_RETRIES
from tasks.run import RunContext, get_run

__all__ = ["publish", "publish_job"]


def publish_job(ctx: RunContext, job_id: str) -> LayerResult:
    """Write the job's files unless the same files are already there."""
    job = ctx.store.get_job(job_id)
    font_dirs = tuple(str(d) for d in ctx.settings.font_dirs)
    app = build_application(job, ctx.profile, font_dirs=font_dirs)
    folder = application_dir(ctx.settings.output_dir, job)
    # The template version is in the hash: a changed template renders the documents again.
    digest = app.digest(str(folder), template_version(), ctx.settings.paper, *font_dirs)
    stored = job.outputs.get("publish")
    if (
        stored is not None
        and stored.input_hash == digest
        and not ctx.force
        and all((folder / name).is_file() for name in FILES)
    ):
        return LayerResult("publish", cached=True)
    files = app.render(("md", "pdf", "docx"), ctx.settings.paper, font_dirs)
    written = write_files(folder, files)
    output = {
        "folder": str(folder),
        "files": [str(path) for path in written],
        "coverage": app.coverage.model_dump(mode="json"),
        "notes": app.notes,
    }
    ctx.store.save_layer_output(
        job_id,
        "publish",
        LayerOutput(
            output=output,
            input_hash=digest,
            model="none",
            cost_usd=0.0,
            at=utcnow(),
            profile=ctx.profile_ref,
        ),
    )
    return LayerResult("publish", cached=False)


@layer_task("publish", retry=LAYER_RETRIES)
def publish(run_id: str, job_id: str) -> LayerResult:
    """Write the application files for the job."""
    return publish_job(get_run(run_id), job_id)
