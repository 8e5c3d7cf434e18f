"""PDF (typst) and DOCX (python-docx) from the generated Markdown: real text, in reading
order, every heading and bullet; accents and non-Latin names; three pages; markup as text."""

from __future__ import annotations

import contextvars
import io
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from docx import Document
from pdfminer.high_level import extract_pages

from applyflow.application import build_application
from applyflow.documents import template_version
from applyflow.documents.markdown import parse_cv
from applyflow.documents.model import plain
from applyflow.documents.pdf import render_pdf, uncovered
from applyflow.documents.word import render_docx
from tests.samples import PROFILE, as_job, offline_outputs, sample_posting
from tests.texts import docx_text, missing_in_order, pdf_text

MARKUP = r"C# & F# #set page(fill: red) $x^2$ @ref <label> \ back[slash] ] // not a comment"
NAMES = ["Łukasz Żółć", "Jiří Dvořák", "Nguyễn Thị Hương", "Søren Ærø", "François Çelik",
         "Ağaoğlu İşçi", "Ζωή Παπαδοπούλου", "Дмитрий Шостакович", "Élodie Brønstad"]  # fmt: skip
EMPLOYERS = ["Ørsted A/S", "Société Générale", "Škoda Auto", "Allegro.pl", "Çelik Yazılım",
             "Kühne + Nagel", "Banco Açores", "Łódź Tech", "Café Société"]  # fmt: skip


def _intl_markdown(roles: int = 9, bullets: int = 6) -> str:
    """A long CV (three A4 pages) with accents, Greek and Cyrillic, and markup characters."""
    lines = [
        "# Łukasz Żółć-Nguyễn",
        "Backend engineer · Kraków, Polska · lukasz@example.com · +48 600 100 200",
        "",
        "## Summary",
        "Engineer from Łódź who worked in Ørsted's Århus office and at Société Générale in "
        "Besançon; façade, naïve, smørrebrød, Dvořák.",
        "",
        "## Skills",
        "Python, Go, SQL, C#, F#, C++, **Kubernetes**, *Terraform*",
        "",
        "## Experience",
    ]
    for r in range(roles):
        lines += [
            "",
            f"### Senior Engineer {r + 1} — {EMPLOYERS[r]} ({2022 - 2 * r}–{2024 - 2 * r})",
        ]
        for b in range(bullets):
            lines.append(
                f"- R{r + 1}B{b + 1}: worked with {NAMES[(r + b) % len(NAMES)]} on the billing "
                f"service, cutting latency by {10 + b}% and shipping the zero-downtime move."
            )
    lines += ["", "## Odd characters", f"- {MARKUP}", "", "## Education",
              "- MSc Informatyka, Politechnika Łódzka (2012)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _needles(markdown: str) -> list[str]:
    """Name, then every heading, role title and bullet, as a reader meets them."""
    doc = parse_cv(markdown, title="t")
    want = [doc.name]
    for section in doc.sections:
        want += [section.heading] if section.heading else []
        for block in section.blocks:
            if block.entry is not None:
                want += [block.entry.title, *(plain(b) for b in block.entry.bullets)]
            want += [plain(b) for b in block.bullets or []]
            want += [plain(block.paragraph)] if block.paragraph else []
    return want


@pytest.fixture(scope="module")
def harbourline():
    job = as_job(sample_posting("Senior Python Backend Engineer"))
    job.outputs = offline_outputs(job)
    app = build_application(job, PROFILE)
    return job, app, app.render(("pdf", "docx"), "a4")


def test_cv_pdf_and_docx_have_name_company_headings_and_bullets_in_order(harbourline):
    job, app, files = harbourline
    cv_md = app.texts["cv.md"]
    assert [s.heading for s in app.cv.sections] == [
        "Summary", "Skills", "Experience", "Education", "Languages"
    ]  # fmt: skip
    assert app.cv.contact == ["Backend & data engineer", "Lisbon, Portugal",
                              "alex.morgan@example.com", "github.com/alexmorgan-dev"]  # fmt: skip
    want = _needles(cv_md)
    assert "Harbourline" in cv_md and want[:2] == ["Alex Morgan", "Summary"]
    assert "Designed the shipment-tracking API in Python and FastAPI, serving 40 million" in str(
        want
    )
    for text in (pdf_text(files["cv.pdf"]), docx_text(files["cv.docx"])):
        assert missing_in_order(text, want) == []
        assert "Harbourline" in text  # the company, in the summary's last sentence


def test_letter_pdf_and_docx_name_the_company_and_read_in_order(harbourline):
    job, app, files = harbourline
    letter = app.letter
    body = [plain(b.paragraph) for b in letter.body if b.paragraph]
    want = ["Alex Morgan", "2 March 2026", "Harbourline", "Dear Harbourline hiring team,",
            *body, "Kind regards,", "Alex Morgan"]  # fmt: skip
    assert len(body) >= 3
    for text in (pdf_text(files["cover_letter.pdf"]), docx_text(files["cover_letter.docx"])):
        assert missing_in_order(text, want) == []


def test_international_cv_of_three_pages_keeps_every_accent_and_name():
    markdown = _intl_markdown()
    doc = parse_cv(markdown, title="Łukasz — CV")
    pdf, docx = render_pdf(doc), render_docx(doc)
    pages = list(extract_pages(io.BytesIO(pdf)))
    assert len(pages) == 3
    text = pdf_text(pdf)
    assert "Łukasz Żółć-Nguyễn · 3 / 3" in text  # the footer of a multi-page CV
    want = _needles(markdown)
    assert len(want) > 60 and MARKUP in want
    assert missing_in_order(text, want) == []
    assert missing_in_order(docx_text(docx), want) == []
    for name in [*NAMES, *EMPLOYERS, "façade", "smørrebrød"]:
        assert name in text, name
    assert uncovered(markdown) == set()  # the bundled font draws all of it


def test_markup_in_the_text_prints_as_text_and_is_never_evaluated():
    doc = parse_cv(f"# {MARKUP}\n\n## *Not* a heading {MARKUP}\n- {MARKUP}\n", title=MARKUP)
    text = pdf_text(render_pdf(doc))
    assert text.count(MARKUP) == 2  # the name and the bullet ("#" would be Typst code)
    assert "Not a heading" in text and "fill: red" in text


def test_paper_setting_gives_a4_or_us_letter_pages():
    doc = parse_cv("# A\n\n## Summary\nText.\n", title="t")
    for paper, size in (("a4", (595, 842)), ("letter", (612, 792))):
        [page] = extract_pages(io.BytesIO(render_pdf(doc, paper=paper)))
        assert (round(page.width), round(page.height)) == size
        section = Document(io.BytesIO(render_docx(doc, paper=paper))).sections[0]
        assert (round(section.page_width.pt), round(section.page_height.pt)) == size


def test_docx_uses_words_own_styles(harbourline):
    _, _, files = harbourline
    styles = {p.style.name for p in Document(io.BytesIO(files["cv.docx"])).paragraphs}
    assert {"Title", "Heading 1", "Heading 2", "List Bullet"} <= styles
    core = Document(io.BytesIO(files["cv.docx"])).core_properties
    assert core.author == "Alex Morgan" and "Harbourline" in core.title


def test_the_same_document_gives_the_same_pdf_bytes_and_docx_text(harbourline):
    job, app, files = harbourline
    again = build_application(job, PROFILE).render(("pdf", "docx"), "a4")
    assert (
        again["cv.pdf"] == files["cv.pdf"]
        and again["cover_letter.pdf"] == files["cover_letter.pdf"]
    )
    # A DOCX's zip entries carry the time it was saved; its content is the same.
    for name in ("cv.docx", "cover_letter.docx"):
        with (
            zipfile.ZipFile(io.BytesIO(again[name])) as a,
            zipfile.ZipFile(io.BytesIO(files[name])) as b,
        ):
            assert {n: a.read(n) for n in a.namelist()} == {n: b.read(n) for n in b.namelist()}


def test_threads_rendering_at_once_each_get_a_whole_pdf():
    doc = parse_cv(_intl_markdown(roles=2), title="t")
    # A fixed timestamp makes the bytes reproducible (without one, Typst stamps the second).
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    expected = render_pdf(doc, timestamp=stamp)
    results: list[bytes] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(4):
            pdf = render_pdf(doc, timestamp=stamp)
            with lock:
                results.append(pdf)

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(work,))
               for _ in range(4)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 16 and all(pdf == expected for pdf in results)


def test_characters_the_bundled_font_lacks_are_reported():
    assert uncovered("王小明 محمد 🙂 ₺ Łódź") == {"王", "小", "明", "م", "ح", "د", "🙂", "₺"}
    job = as_job(sample_posting("Data Engineer"))
    job.outputs = offline_outputs(job, PROFILE.replace("# Alex Morgan", "# 王小明 (Alex Morgan)"))
    app = build_application(job, PROFILE)
    assert any("cannot draw" in note and "王" in note for note in app.notes)
    assert "APPLYFLOW_FONT_DIRS" in app.texts["dossier.md"]
    assert build_application(job, PROFILE, font_dirs=("/fonts",)).notes == []


def test_template_version_changes_with_a_template(tmp_path: Path):
    from applyflow.documents import TEMPLATES

    same, changed = tmp_path / "same", tmp_path / "changed"
    for folder in (same, changed):
        folder.mkdir()
        for path in TEMPLATES.glob("*.typ"):
            (folder / path.name).write_bytes(path.read_bytes())
    (changed / "cv.typ").write_text((changed / "cv.typ").read_text() + "\n// changed\n")
    assert template_version(same) == template_version()
    assert template_version(changed) != template_version()
