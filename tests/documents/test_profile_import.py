"""Profile import by rules: a CV from .pdf, .docx, .md or .txt in the documented layout."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typst
from docx import Document
from PIL import Image, ImageDraw

from applyflow.documents.markdown import parse_cv
from applyflow.documents.pdf import render_pdf
from applyflow.documents.word import render_docx
from applyflow.errors import InputError
from applyflow.profile_check import layout_problems
from applyflow.profile_import import read_cv, structure
from applyflow.textrules import Profile, parse_profile
from tests.samples import PROFILE, ROOT

DATA = ROOT / "tests" / "data" / "documents"
LEFT = ["CONTACT", "Kraków, Polska", "jan@example.com", "SKILLS", "Python", "Helm charts",
        "LANGUAGES", "Polski (native)", "English (C1)"]  # fmt: skip
RIGHT = ["Jan Kowalski-Wróbel", "EXPERIENCE", "Senior Engineer — Škoda Auto (2020–2024)",
         "• Cut build times by 40% for 300 engineers.", "• Led the move to Kubernetes.",
         "Engineer — Allegro.pl (2016–2020)", "• Built the search indexer in Go.",
         "EDUCATION", "MSc, Politechnika Łódzka (2016)"]  # fmt: skip


def _facts(profile: Profile) -> tuple:
    return (
        profile.name, profile.contact, profile.summary,
        [(r.header, r.bullets) for r in profile.roles],
        *(profile.section(s) for s in ("Skills", "Education", "Languages", "Preferences")),
    )  # fmt: skip


def _imported(path: Path) -> str:
    found = structure(read_cv(path))
    assert found.unplaced == [] and found.unknown_sections == []
    return found.markdown


@pytest.mark.parametrize("kind", ["md", "txt", "pdf", "docx"])
def test_our_own_profile_comes_back_the_same_from_every_format(tmp_path: Path, kind: str):
    path = tmp_path / f"cv.{kind}"
    doc = parse_cv(PROFILE, title="t")
    data = {"md": PROFILE.encode(), "txt": PROFILE.encode(), "pdf": render_pdf(doc),
            "docx": render_docx(doc)}[kind]  # fmt: skip
    path.write_bytes(data)
    markdown = _imported(path)
    assert _facts(parse_profile(markdown)) == _facts(parse_profile(PROFILE))
    assert layout_problems(markdown) == []


def _two_columns(rowwise: bool) -> bytes:
    """A sidebar CV: drawn as a grid (column by column) or line by line across both columns."""
    grid = b"""#let d = json(bytes(sys.inputs.d))
#grid(columns: (32%, 1fr), column-gutter: 8mm,
  d.left.map(x => [#x]).join(linebreak()), d.right.map(x => [#x]).join(linebreak()))"""
    rows = b"""#let d = json(bytes(sys.inputs.d))
#for i in range(calc.max(d.left.len(), d.right.len())) {
  if i < d.left.len() { place(top + left, dy: i * 6mm, d.left.at(i)) }
  if i < d.right.len() { place(top + left, dx: 65mm, dy: i * 6mm, d.right.at(i)) }
}"""
    return typst.compile(
        rows if rowwise else grid,
        format="pdf",
        ignore_system_fonts=True,
        sys_inputs={"d": json.dumps({"left": LEFT, "right": RIGHT})},
    )


@pytest.mark.parametrize("rowwise", [False, True])
def test_a_two_column_pdf_is_read_column_by_column(tmp_path: Path, rowwise: bool):
    path = tmp_path / "sidebar.pdf"
    path.write_bytes(_two_columns(rowwise))
    profile = parse_profile(_imported(path))
    assert profile.name == "Jan Kowalski-Wróbel"
    assert profile.contact == "Kraków, Polska · jan@example.com"
    assert [(r.header, r.bullets) for r in profile.roles] == [
        ("Senior Engineer — Škoda Auto (2020–2024)",
         ["Cut build times by 40% for 300 engineers.", "Led the move to Kubernetes."]),
        ("Engineer — Allegro.pl (2016–2020)", ["Built the search indexer in Go."]),
    ]  # fmt: skip
    assert profile.section("Skills") == ["Python, Helm charts"]
    assert profile.languages == ["Polski (native)", "English (C1)"]


def test_a_docx_typed_without_styles_is_understood(tmp_path: Path):
    d = Document()
    d.add_paragraph().add_run("Zofia Wąsowska-Nguyễn").bold = True
    table = d.add_table(rows=1, cols=2)
    table.cell(0, 0).paragraphs[0].add_run("Gdańsk · zofia@example.com")
    table.cell(0, 1).paragraphs[0].add_run("+48 500 000 000")
    d.add_paragraph().add_run("SUMMARY").bold = True
    d.add_paragraph("Data engineer with 6 years in fintech.")
    d.add_paragraph().add_run("EXPERIENCE").bold = True
    d.add_paragraph().add_run("Data Engineer – Revolut (2019–2024)").bold = True
    d.add_paragraph("• Built Kafka pipelines for card payments.")
    d.add_paragraph("- Cut reconciliation time by 60%.")
    d.add_paragraph("Owned the dbt models.", style="List Bullet")
    d.add_paragraph().add_run("OPEN SOURCE").bold = True
    d.add_paragraph("Maintainer of a dbt package.")
    path = tmp_path / "typed.docx"
    d.save(path)
    found = structure(read_cv(path))
    profile = parse_profile(found.markdown)
    assert profile.name == "Zofia Wąsowska-Nguyễn"
    assert profile.contact == "Gdańsk · zofia@example.com · +48 500 000 000"
    assert profile.summary == "Data engineer with 6 years in fintech."
    assert [(r.header, r.bullets) for r in profile.roles] == [
        ("Data Engineer — Revolut (2019–2024)",
         ["Built Kafka pipelines for card payments.", "Cut reconciliation time by 60%.",
          "Owned the dbt models."]),
    ]  # fmt: skip
    assert found.unknown_sections == ["OPEN SOURCE"]
    assert profile.section("Open Source") == ["Maintainer of a dbt package."]
    assert layout_problems(found.markdown) == [
        "no ## Skills section", "no ## Education section", "no ## Languages section",
    ]  # fmt: skip


def test_lines_it_cannot_place_are_reported_and_kept_in_private_notes(tmp_path: Path):
    path = tmp_path / "cv.txt"
    path.write_text(
        "Ana Løvik\nOslo · ana@example.com\n+47 400 00 000\nlinkedin.com/in/ana\nBorn 1990\n"
        "Driving licence B\n\n"
        "EXPERIENCE\nI enjoy teams.\nEngineer — Acme (2020–2024)\n- Built things.\n"
    )
    found = structure(read_cv(path))
    assert found.unplaced == ["Driving licence B", "I enjoy teams."]
    profile = parse_profile(found.markdown)
    assert profile.section("Notes") == ["- Driving licence B", "- I enjoy teams."]
    assert profile.roles[0].header == "Engineer — Acme (2020–2024)"


def _scan() -> bytes:
    image = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(image).text((50, 50), "Jan Kowalski, engineer", fill="black")
    buf = io.BytesIO()
    image.save(buf, "PDF", resolution=100)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("scan.pdf", _scan(), "its 1 page(s) hold 1 image(s) and no text layer (a scan?); run OCR"),
        ("blank.pdf", typst.compile(b"#set page(paper: \"a5\")\n#box()", format="pdf",
                                    ignore_system_fonts=True), "its 1 page(s) hold no text"),
        ("locked.pdf", (DATA / "password.pdf").read_bytes(), "the PDF is password-protected"),
        ("broken.pdf", b"%PDF-1.4 not really", "not a readable PDF"),
        ("broken.docx", b"PK not a zip", "not a readable DOCX"),
        ("latin1.txt", "Jos\xe9".encode("latin-1"), "not UTF-8 text"),
        ("cv.odt", b"x", "cannot import .odt files; use one of .pdf, .docx, .md"),
    ],
)  # fmt: skip
def test_files_it_cannot_read_get_one_clear_line(tmp_path: Path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        read_cv(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
