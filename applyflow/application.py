"""A job's application on disk: its folder and its files, made from the stored outputs.

No model call: the generate output (CV and letter Markdown), the upstream outputs and the
profile are enough, so publish and `applyflow export` make the same files the same way.

Files: ``cv.md``, ``cover_letter.md``, ``dossier.md`` (for the candidate: fit, gaps, claims
check, keyword coverage), and the documents to send: ``cv.pdf``, ``cover_letter.pdf``,
``cv.docx``, ``cover_letter.docx``.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from applyflow.coverage import keyword_coverage
from applyflow.documents.markdown import parse_cv, parse_letter
from applyflow.documents.model import CvDocument, LetterDocument
from applyflow.documents.pdf import Paper, render_pdf, uncovered
from applyflow.documents.word import render_docx
from applyflow.dossier import render_dossier
from applyflow.errors import LayerError
from applyflow.models import Coverage, Job
from applyflow.textrules import parse_profile

__all__ = [
    "FILES",
    "FORMATS",
    "Application",
    "application_dir",
    "build_application",
    "slugify",
    "write_files",
]

FORMATS: dict[str, tuple[str, ...]] = {
    "md": ("cv.md", "cover_letter.md", "dossier.md"),
    "pdf": ("cv.pdf", "cover_letter.pdf"),
    "docx": ("cv.docx", "cover_letter.docx"),
}
FILES = tuple(name for names in FORMATS.values() for name in names)


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


@dataclass
class Application:
    """A job's documents as text and structure, before the PDF and DOCX are drawn."""

    job: Job
    texts: dict[str, str]  # the Markdown files
    cv: CvDocument
    letter: LetterDocument
    coverage: Coverage
    notes: list[str]  # for the candidate (also in the dossier), e.g. characters the PDF lacks

    def digest(self, *parts: str) -> str:
        """Hash of the texts and ``parts`` (folder, template version, paper, fonts)."""
        payload = "\x1f".join([*parts, *self.texts.values()])
        return hashlib.sha256(payload.encode()).hexdigest()[:24]

    def render(
        self, formats: tuple[str, ...], paper: Paper, font_dirs: tuple[str, ...] = ()
    ) -> dict[str, bytes]:
        """The bytes of every file of ``formats``."""
        when = self.job.outputs["generate"].at
        files: dict[str, bytes] = {}
        for fmt in formats:
            if fmt == "md":
                files.update({name: text.encode() for name, text in self.texts.items()})
            elif fmt == "pdf":
                for name, doc in (("cv.pdf", self.cv), ("cover_letter.pdf", self.letter)):
                    files[name] = render_pdf(doc, paper=paper, font_dirs=font_dirs, timestamp=when)
            elif fmt == "docx":
                for name, doc in (("cv.docx", self.cv), ("cover_letter.docx", self.letter)):
                    files[name] = render_docx(doc, paper=paper, timestamp=when)
            else:
                raise ValueError(f"unknown format {fmt!r}; formats are {', '.join(FORMATS)}")
        return files


def build_application(
    job: Job, profile_text: str, *, font_dirs: tuple[str, ...] = ()
) -> Application:
    """The job's documents from its stored outputs; ``LayerError`` when one is missing."""
    for layer in ("extract", "research", "score", "generate"):
        if layer not in job.outputs:
            raise LayerError("publish", f"job {job.id} has no {layer} output yet; run it first")
    generated, extract = job.outputs["generate"], job.outputs["extract"].output
    cv_md = str(generated.output["cv_markdown"])
    letter_md = str(generated.output["cover_letter_markdown"])
    profile = parse_profile(profile_text)
    target = f"{job.title} at {job.company}"
    cv = parse_cv(cv_md, title=f"{profile.name} — CV for {target}", name=profile.name)
    letter = parse_letter(
        letter_md,
        name=cv.name,
        contact=cv.contact,
        title=f"{cv.name} — cover letter for {target}",
        date=f"{generated.at.day} {generated.at:%B %Y}",
        recipient=[job.company],
    )
    # The CV naming the job ("...the Registered Nurse role") does not cover "nursing".
    cv_text = re.sub(f"{re.escape(job.title)}|{re.escape(job.company)}", " ", cv_md, flags=re.I)
    coverage = keyword_coverage(
        [str(s) for s in extract.get("skills") or []],
        [str(k) for k in extract.get("keywords") or []],
        cv_text,
        profile_text,
    )
    notes = []
    missing = "" if font_dirs else "".join(sorted(uncovered(f"{cv_md}\n{letter_md}")))
    if missing:
        notes.append(
            f"The PDF font cannot draw {missing[:40]}; the DOCX has the text. Add a font folder"
            " that covers it to APPLYFLOW_FONT_DIRS."
        )
    texts = {
        "cv.md": cv_md,
        "cover_letter.md": letter_md,
        "dossier.md": render_dossier(job, coverage, notes),
    }
    return Application(job, texts, cv, letter, coverage, notes)


def write_files(folder: Path, files: dict[str, bytes]) -> list[Path]:
    """Write each file atomically (readers never see half a file); the paths written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, data in files.items():
            path = folder / name
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            written.append(path)
    except OSError as exc:
        raise LayerError("publish", f"cannot write {folder}: {exc.strerror or exc}") from None
    return written
