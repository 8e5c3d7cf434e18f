"""Documents a person can send: the structured CV and letter, their PDF and DOCX, text out.

    model.py      CvDocument, LetterDocument and their parts (data, never markup)
    markdown.py   generated Markdown -> the document (markdown-it-py)
    pdf.py        PDF through Typst (templates/*.typ, bundled fonts)
    word.py       DOCX through python-docx (Word's own styles)
    reading.py    text out of PDF (pdfminer.six) and DOCX files

Import each module (nothing is re-exported): reading a CV's Markdown never loads Typst.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

__all__ = ["TEMPLATES", "template_version"]

# Bump when the renderers' Python code changes what a document looks like.
_RENDERER_VERSION = "1"
TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=4)
def template_version(templates: Path = TEMPLATES) -> str:
    """A hash of the templates, the renderer code version and the renderer packages: part of
    publish's input hash, so a change to any of them renders the documents again."""
    digest = hashlib.sha256(_RENDERER_VERSION.encode())
    for path in sorted(templates.glob("*.typ")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for package in ("typst", "python-docx"):
        digest.update(f"{package}=={version(package)}".encode())
    return digest.hexdigest()[:16]
