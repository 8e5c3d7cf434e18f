"""Markdown -> the structured document: roles split, the letter's parts found, nothing lost."""

from __future__ import annotations

import pytest

from applyflow.documents.markdown import parse_cv, parse_letter, parse_role
from applyflow.documents.model import plain


@pytest.mark.parametrize(
    ("header", "title", "org", "dates"),
    [
        ("Senior Engineer — Tidewater Logistics (2021–present)", "Senior Engineer",
         "Tidewater Logistics", "2021–present"),
        ("Data Engineer @ Revolut [2019 - now]", "Data Engineer", "Revolut", "2019 - now"),
        ("Analyst | Banco Açores | Jan 2019 - Mar 2021", "Analyst", "Banco Açores",
         "Jan 2019 - Mar 2021"),
        ("Developer, Škoda Auto, 2018–2021", "Developer", "Škoda Auto", "2018–2021"),
        ("Freelance (2015)", "Freelance", None, "2015"),
        ("Something else entirely", "Something else entirely", None, None),
    ],
)  # fmt: skip
def test_role_lines_are_split_into_title_employer_and_dates(header, title, org, dates):
    entry = parse_role(header)
    assert (entry.title, entry.org, entry.dates) == (title, org, dates)


def test_a_cv_keeps_every_line_and_html_links_and_control_characters_are_tamed():
    doc = parse_cv(
        "# Ana Løvik\nData engineer · Oslo · ana@example.com\n\n## Summary\nI build "
        "[pipelines](https://example.com) and <b>raw html</b>\x00.\n\n## Experience\n"
        "### Engineer — Acme (2020–2024)\n- One\n  - nested\n1. numbered\n\n"
        "| a | b |\n|---|---|\n| c | d |\n\n[bad](javascript:alert(1))\n",
        title="t",
    )
    assert doc.name == "Ana Løvik" and doc.contact == ["Data engineer", "Oslo", "ana@example.com"]
    summary = doc.sections[0].blocks[0].paragraph
    assert plain(summary) == "I build pipelines and <b>raw html</b>."
    assert [s.href for s in summary] == [None, "https://example.com", None]
    entry = doc.sections[1].blocks[0].entry
    assert entry.org == "Acme"
    # Nested and numbered items are flattened; table rows and the bad link stay as text.
    assert [plain(b) for b in entry.bullets] == ["One", "nested", "numbered"]
    assert [plain(p) for p in entry.paragraphs] == ["a · b", "c · d", "[bad](javascript:alert(1))"]
    assert all(s.href is None for p in entry.paragraphs for s in p)


def test_a_letter_takes_sender_from_the_profile_and_finds_its_parts():
    letter = parse_letter(
        "Alex Morgan\nalex@example.com\n\nHarbourline\nLisbon\n\nDear Harbourline team,\n\n"
        "First paragraph.\n\n- a point\n\nThanks, and I hope to hear from you.\n\n"
        "Kind regards,\nAlex Morgan\n",
        name="Alex Morgan",
        contact=["alex@example.com"],
        title="t",
        recipient=["Fallback Ltd"],
    )
    assert letter.recipient == ["Harbourline Lisbon"]
    assert plain(letter.salutation) == "Dear Harbourline team,"
    assert [plain(b.paragraph) if b.paragraph else [plain(x) for x in b.bullets]
            for b in letter.body] == [
        "First paragraph.", ["a point"], "Thanks, and I hope to hear from you."
    ]  # fmt: skip
    assert (letter.closing, letter.signature) == ("Kind regards,", "Alex Morgan")
    bare = parse_letter("Dear team,\n\nBody.\n", name="A", contact=[], title="t", recipient=["X"])
    assert bare.recipient == ["X"] and bare.closing is None
