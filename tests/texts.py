"""Text out of rendered documents, and an in-order search over it (what an ATS would read)."""

from __future__ import annotations

import re

from applyflow.documents.reading import docx_paragraphs, pdf_pages

__all__ = ["docx_text", "missing_in_order", "pdf_text"]


def pdf_text(data: bytes) -> str:
    """The PDF's text as pdfminer.six reads it, pages in order."""
    pages, _ = pdf_pages(data)
    return "\n".join(pages)


def docx_text(data: bytes) -> str:
    return "\n".join(text for _, text in docx_paragraphs(data))


def _norm(text: str) -> str:
    # A line broken after a real hyphen ("zero-\ndowntime") is one word again.
    text = re.sub(r"(?<=\w-)[ \t]*\n\s*", "", text)
    return re.sub(r"\s+", " ", text).strip()


def missing_in_order(text: str, needles: list[str]) -> list[str]:
    """The needles not found one after another in ``text`` ([] when all are, in order)."""
    hay, pos, missing = _norm(text), 0, []
    for needle in needles:
        at = hay.find(_norm(needle), pos)
        if at < 0:
            missing.append(needle)
        else:
            pos = at + len(_norm(needle))
    return missing
