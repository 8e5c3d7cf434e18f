"""Text out of PDF and DOCX files: for ``profile import`` and for checking rendered documents.

PDFs are read with pdfminer.six, whose layout analysis keeps two-column CVs in reading order
(each column's text boxes together) even when the file draws the columns row by row.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from applyflow.errors import InputError

__all__ = ["docx_paragraphs", "pdf_pages", "read_pdf"]

# Fewer visible characters than this on a page: there is no text layer to read.
_MIN_CHARS_PER_PAGE = 5


def _images(element: Any) -> int:
    from pdfminer.layout import LTImage

    if isinstance(element, LTImage):
        return 1
    return sum(_images(child) for child in element) if hasattr(element, "__iter__") else 0


def pdf_pages(data: bytes, where: str = "the PDF") -> tuple[list[str], int]:
    """Each page's text in reading order, and how many images the pages hold."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psparser import PSException

    pages: list[str] = []
    images = 0
    try:
        for layout in extract_pages(io.BytesIO(data), laparams=LAParams()):
            text = "".join(el.get_text() for el in layout if isinstance(el, LTTextContainer))
            pages.append(text)
            images += _images(layout)
    except PDFPasswordIncorrect:
        raise InputError(
            where, None, "the PDF is password-protected; remove the password first"
        ) from None
    except (PDFSyntaxError, PSException) as exc:
        raise InputError(where, None, f"not a readable PDF ({type(exc).__name__})") from None
    return pages, images


def read_pdf(data: bytes, where: str = "the PDF") -> str:
    """The PDF's text, or a one-line ``InputError`` when there is no text layer (a scan)."""
    pages, images = pdf_pages(data, where)
    visible = len(re.sub(r"\s|\(cid:\d+\)", "", "".join(pages)))
    if visible < _MIN_CHARS_PER_PAGE * max(1, len(pages)):
        held = f"{images} image(s) and no text layer (a scan?)" if images else "no text"
        raise InputError(
            where,
            None,
            f"its {len(pages)} page(s) hold {held}; run OCR on it first (e.g. ocrmypdf) "
            "or import a .docx, .md or .txt instead",
        )
    return "\n".join(pages)


def _kind(paragraph: Any) -> str:
    """A paragraph's style name, or a hint for CVs typed without styles: "bold" (every run
    bold: a heading typed by hand) or "numbered" (list numbering applied directly)."""
    name = paragraph.style.name if paragraph.style is not None else ""
    if name.startswith(("Heading", "Title", "List")):
        return name
    ppr = paragraph._p.pPr
    if ppr is not None and ppr.numPr is not None:
        return "numbered"
    runs = [r for r in paragraph.runs if r.text.strip()]
    if runs and all(r.bold or (r.style is not None and r.style.font.bold) for r in runs):
        return "bold"
    return name


def docx_paragraphs(data: bytes, where: str = "the DOCX") -> list[tuple[str, str]]:
    """(kind, text) of every paragraph in body order; tables in place, merged cells once."""
    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(where, None, f"not a readable DOCX ({type(exc).__name__})") from None
    out: list[tuple[str, str]] = []

    def walk(container: Any) -> None:
        for block in container.iter_inner_content():
            if hasattr(block, "rows"):
                seen: set[int] = set()
                for row in block.rows:
                    for cell in row.cells:
                        if id(cell._tc) not in seen:
                            seen.add(id(cell._tc))
                            walk(cell)
            else:
                out.append((_kind(block), block.text))

    walk(document)
    return out
