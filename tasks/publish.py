"""Layer 5, publish: write cv.md, cover_letter.md and dossier.md under the output folder.

Files go to ``OUTPUT_DIR/<company>/<title>-<job id>/`` with slugified, safe names. No model
call; the job's status becomes ``ready`` once this layer has finished.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from applyflow.errors import LayerError
from applyflow.models import Job, LayerOutput, utcnow
from tasks.layers import layer_task, upstream
from tasks.progress import LayerResult
from tasks.retries import LAYER_RETRIES
from tasks.run import RunContext, get_run

__all__ = ["FILES", "application_dir", "publish", "render_dossier", "slugify"]

FILES = ("cv.md", "cover_letter.md", "dossier.md")


def slugify(text: str, limit: int = 60) -> str:
    """ASCII, lowercase, dash-separated, at most ``limit`` characters; never empty or dotted."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].strip("-") or "untitled"


def application_dir(output_dir: Path, job: Job) -> Path:
    """``output_dir/<company>/<title>-<id>``, guaranteed to stay inside ``output_dir``."""
    root = output_dir.resolve()
    folder = (root / slugify(job.company) / f"{slugify(job.title)}-{slugify(job.id, 32)}").resolve()
    if root not in folder.parents:
        raise LayerError("publish", f"refusing to write outside {root}: {folder}")
    return folder


def _items(values: Any) -> list[str]:
    return [f"- {v}" for v in values or []] or ["- (none)"]


def render_dossier(job: Job) -> str:
    """One page on the job: posting facts, fit and why, company notes, and what each layer cost."""
    ex, rs, sc = (job.outputs[name].output for name in ("extract", "research", "score"))
    lines = [
        f"# {job.title} at {job.company}",
        "",
        f"- Location: {job.location or 'not stated'} ({ex.get('remote_policy', 'unspecified')})",
        f"- Seniority: {ex.get('seniority', 'unspecified')}",
        f"- Years asked: {ex.get('years_experience') if ex.get('years_experience') is not None else 'not stated'}",  # noqa: E501
        f"- Posting: {job.url or 'no link'} (source {job.source}, job id {job.id})",
        "",
        f"## Fit: {sc.get('fit')} / 100 ({sc.get('category')})",
        "",
        str(sc.get("rationale", "")),
        "",
        "### Matched skills",
        *_items(sc.get("matched_skills")),
        "",
        "### Gaps",
        *_items(sc.get("gaps")),
        "",
        "## Company",
        "",
        str(rs.get("summary", "")),
        "",
        *_items(rs.get("signals")),
        "",
        "## Requirements",
        *_items(ex.get("requirements")),
        "",
        "## Responsibilities",
        *_items(ex.get("responsibilities")),
        "",
        "## How this was made",
        "",
        "| layer | model | cost (USD) |",
        "|---|---|---|",
    ]
    for name, out in job.outputs.items():
        if name != "publish":
            lines.append(f"| {name} | {out.model} | {out.cost_usd:.6f} |")
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # readers never see a half-written file


def publish_job(ctx: RunContext, job_id: str) -> LayerResult:
    """Write the job's three files unless the same files are already there."""
    job = ctx.store.get_job(job_id)
    generated = upstream(job, "generate", "publish")
    for name in ("extract", "research", "score"):
        upstream(job, name, "publish")
    folder = application_dir(ctx.settings.output_dir, job)
    contents = {
        "cv.md": str(generated["cv_markdown"]),
        "cover_letter.md": str(generated["cover_letter_markdown"]),
        "dossier.md": render_dossier(job),
    }
    digest = hashlib.sha256("\x1f".join([str(folder), *contents.values()]).encode()).hexdigest()[
        :24
    ]
    stored = job.outputs.get("publish")
    if (
        stored is not None
        and stored.input_hash == digest
        and not ctx.force
        and all((folder / name).is_file() for name in FILES)
    ):
        return LayerResult("publish", cached=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in contents.items():
            _write(folder / name, text)
    except OSError as exc:
        raise LayerError("publish", f"cannot write {folder}: {exc.strerror or exc}") from None
    output = {"folder": str(folder), "files": [str(folder / name) for name in FILES]}
    ctx.store.save_layer_output(
        job_id,
        "publish",
        LayerOutput(output=output, input_hash=digest, model="none", cost_usd=0.0, at=utcnow()),
    )
    return LayerResult("publish", cached=False)


@layer_task("publish", retry=LAYER_RETRIES)
def publish(run_id: str, job_id: str) -> LayerResult:
    """Write the application files for the job."""
    return publish_job(get_run(run_id), job_id)
