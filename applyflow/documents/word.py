"""DOCX with python-docx, in Word's own styles: Title (name), Heading 1 (sections), Heading 2
(roles), List Bullet (real Word bullets), Normal; page size from the paper setting."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

from docx import Document
from docx.document import Document as DocxDocument
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph

from applyflow.documents.model import Block, CvDocument, Inline, LetterDocument
from applyflow.documents.pdf import Paper

__all__ = ["render_docx"]

_PAGE = {"a4": (Mm(210), Mm(297)), "letter": (Mm(215.9), Mm(279.4))}


def _base(doc: CvDocument | LetterDocument, paper: Paper, when: datetime | None) -> DocxDocument:
    d = Document()
    section = d.sections[0]
    section.page_width, section.page_height = _PAGE[paper]
    section.left_margin = section.right_margin = Mm(20)
    section.top_margin, section.bottom_margin = Mm(18), Mm(20)
    normal = d.styles["Normal"]
    normal.font.name = "Calibri"  # Word's default body font; other readers substitute cleanly
    normal.font.size = Pt(10.5)
    for name in ("Title", "Heading 1", "Heading 2"):  # the template's blue reads as a form
        d.styles[name].font.color.rgb = RGBColor(0x1A, 0x1A, 0x1A)
    props = d.core_properties
    props.title, props.author, props.language = doc.title, doc.name, doc.lang
    if when is not None:  # the same document gives the same bytes
        props.created = props.modified = when.replace(tzinfo=None)
    return d


def _runs(paragraph: Paragraph, spans: Inline) -> Paragraph:
    for span in spans:
        run = paragraph.add_run(span.text)
        run.bold = span.strong or None
        run.italic = span.emph or None
        target = (span.href or "").removeprefix("mailto:")
        if target and target != span.text:
            paragraph.add_run(f" ({target})")  # python-docx writes no hyperlinks: show the address
    return paragraph


def _blocks(d: DocxDocument, blocks: list[Block]) -> None:
    for block in blocks:
        if block.paragraph is not None:
            _runs(d.add_paragraph(), block.paragraph)
        for item in block.bullets or []:
            _runs(d.add_paragraph(style="List Bullet"), item)
        if block.entry is not None:
            e = block.entry
            line = " — ".join(x for x in (e.title, e.org) if x)
            when = " · ".join(x for x in (e.dates, e.location) if x)
            d.add_paragraph(f"{line} · {when}" if when else line, style="Heading 2")
            for paragraph in e.paragraphs:
                _runs(d.add_paragraph(), paragraph)
            for item in e.bullets:
                _runs(d.add_paragraph(style="List Bullet"), item)


def _bytes(d: DocxDocument, when: datetime | None) -> bytes:
    """The saved file, its zip entries stamped ``when`` (python-docx stamps "now"), so the
    same document gives the same bytes."""
    raw = io.BytesIO()
    d.save(raw)
    stamp = (when or datetime(1980, 1, 1)).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info))
    return out.getvalue()


def _cv(doc: CvDocument, d: DocxDocument) -> None:
    d.add_paragraph(doc.name, style="Title")
    if doc.headline:
        _runs(d.add_paragraph(style="Subtitle"), doc.headline)
    if doc.contact:
        d.add_paragraph(" · ".join(doc.contact))
    for section in doc.sections:
        if section.heading:
            d.add_paragraph(section.heading, style="Heading 1")
        _blocks(d, section.blocks)


def _letter(doc: LetterDocument, d: DocxDocument) -> None:
    d.add_paragraph(doc.name, style="Title")
    if doc.contact:
        d.add_paragraph(" · ".join(doc.contact))
    if doc.date:
        d.add_paragraph(doc.date)
    if doc.recipient:
        p = d.add_paragraph()
        for i, line in enumerate(doc.recipient):
            if i:
                p.add_run().add_break()  # an address block: one paragraph, line breaks
            p.add_run(line)
    if doc.salutation:
        _runs(d.add_paragraph(), doc.salutation)
    _blocks(d, doc.body)
    if doc.closing:
        d.add_paragraph(doc.closing)
    d.add_paragraph(doc.signature or doc.name)


def render_docx(
    doc: CvDocument | LetterDocument, *, paper: Paper = "a4", timestamp: datetime | None = None
) -> bytes:
    """The DOCX of ``doc``."""
    d = _base(doc, paper, timestamp)
    if isinstance(doc, CvDocument):
        _cv(doc, d)
    else:
        _letter(doc, d)
    return _bytes(d, timestamp)
