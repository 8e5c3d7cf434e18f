"""DOCX with python-docx, in Word's own styles: Title (name), Heading 1 (sections), Heading 2
(roles), List Bullet (real Word bullets), Normal; page size from the paper setting."""

from __future__ import annotations

import io
from datetime import datetime

from docx import Document
from docx.document import Document as DocxDocument
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph

from applyflow.documents.model import Block, CvDocument, Inline, LetterDocument
from applyflow.documents.pdf import Paper

__all__ = ["render_docx"]

_PAGE = {"a4": (Mm(210), Mm(297)), "letter": (Mm(215.9), Mm(279.4))}
# Style ids of python-docx's default template, by style name.
_STYLE_IDS = {"Title": "Title", "Subtitle": "Subtitle", "Heading 1": "Heading1",
              "Heading 2": "Heading2", "List Bullet": "ListBullet"}  # fmt: skip


def _paragraph(d: DocxDocument, style: str | None = None) -> Paragraph:
    """A new paragraph in ``style``. python-docx's own ``add_paragraph(style=...)`` searches
    every style for the default on each call (~8 ms on a busy machine, most of a CV's time),
    so the id is set on the paragraph's XML element (``_p``, python-docx's oxml escape hatch)."""
    paragraph = d.add_paragraph()
    if style is not None:
        paragraph._p.get_or_add_pPr().style = _STYLE_IDS[style]
    return paragraph


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
    if when is not None:  # when the text was written, not when it was drawn again
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
            _runs(_paragraph(d, "List Bullet"), item)
        if block.entry is not None:
            e = block.entry
            line = " — ".join(x for x in (e.title, e.org) if x)
            when = " · ".join(x for x in (e.dates, e.location) if x)
            _paragraph(d, "Heading 2").add_run(f"{line} · {when}" if when else line)
            for paragraph in e.paragraphs:
                _runs(d.add_paragraph(), paragraph)
            for item in e.bullets:
                _runs(_paragraph(d, "List Bullet"), item)


def _bytes(d: DocxDocument) -> bytes:
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _cv(doc: CvDocument, d: DocxDocument) -> None:
    _paragraph(d, "Title").add_run(doc.name)
    if doc.headline:
        _runs(_paragraph(d, "Subtitle"), doc.headline)
    if doc.contact:
        d.add_paragraph(" · ".join(doc.contact))
    for section in doc.sections:
        if section.heading:
            _paragraph(d, "Heading 1").add_run(section.heading)
        _blocks(d, section.blocks)


def _letter(doc: LetterDocument, d: DocxDocument) -> None:
    _paragraph(d, "Title").add_run(doc.name)
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
    return _bytes(d)
