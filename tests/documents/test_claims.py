"""Claims verification: every employer, title, date, number, degree, institution and skill in
the CV and letter must be in the profile; the offline documents pass for every sample."""

from __future__ import annotations

import pytest

from applyflow.claims import normalise, verify_documents
from tests.samples import PROFILE, as_job, offline_outputs, sample_postings

CV = """# Alex Morgan
Backend & data engineer · Lisbon, Portugal · alex.morgan@example.com · github.com/alexmorgan-dev

## Summary
Backend and data engineer with 7+ years of experience. I am applying for the Staff Platform
Engineer role at Quanta Ledger.

## Experience
### Senior Backend Engineer — Tidewater Logistics (2021 - present)
- Moved fourteen batch jobs to Kafka consumers; failed loads dropped by 80 percent.

## Education
- BSc Computer Science, University of Porto (2016)
"""
LETTER = (
    "Dear Quanta Ledger team,\n\nAt Parcelly, I built Airflow pipelines.\n\n"
    "Kind regards,\nAlex Morgan\n"
)


def _claims(cv: str, letter: str = LETTER) -> set[tuple[str, str, str]]:
    found = verify_documents(
        cv, letter, PROFILE, posting_title="Staff Platform Engineer", company="Quanta Ledger"
    )
    return {(c.kind, c.text, c.document) for c in found.unsupported}


def test_the_profiles_own_facts_pass_in_any_case_dash_and_number_form():
    assert _claims(CV.replace("fourteen", "14")) == set()
    assert normalise("5+ Years") == normalise("5 years")
    assert normalise("2018 – 2021") == normalise("2018-2021") == normalise("2018 to 2021")
    assert normalise("80 per cent") == normalise("80%") == "80%"
    assert normalise("2021—now") == "2021-present"


def test_an_invented_employer_metric_title_and_dates_are_each_listed():
    invented = "### Staff Engineer — Globex Corporation (2014–2016)\n- Cut cloud costs by 35%.\n"
    cv = CV.replace("## Education", f"{invented}\n## Education")
    letter = LETTER.replace("pipelines.", "pipelines, then led 12 engineers at Initech Systems.")
    assert _claims(cv, letter) == {
        ("title", "Staff Engineer", "cv"),
        ("employer", "Globex Corporation", "cv"),
        ("dates", "2014–2016", "cv"),
        ("number", "35%", "cv"),
        ("number", "12", "cover_letter"),
        ("name", "Initech Systems", "cover_letter"),
    }


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        (("(2021 - present)", "(2020 - present)"), ("dates", "2020 - present", "cv")),
        (("BSc Computer", "MSc Computer"), ("degree", "MSc", "cv")),
        (("University of Porto", "University of Coimbra"),
         ("institution", "University of Coimbra", "cv")),
        (("Kafka consumers", "Kafka and Snowflake consumers"), ("skill", "Snowflake", "cv")),
        (("80 percent", "85 percent"), ("number", "85%", "cv")),
        (("fourteen", "fifteen"), ("number", "fifteen", "cv")),
        (("alex.morgan@example.com", "alex@evil.example"), ("contact", "alex@evil.example", "cv")),
    ],
)  # fmt: skip
def test_each_kind_of_claim_is_checked(change: tuple[str, str], claim: tuple[str, str, str]):
    cv = CV.replace("fourteen", "14") if change[0] != "fourteen" else CV
    assert claim in _claims(cv.replace(*change))


def test_what_is_not_a_claim_passes():
    letter = (
        "Dear Quanta Ledger hiring team,\n\nI read about the Staff Platform Engineer role on "
        "2 March 2026. See https://github.com/alexmorgan-dev/x2 for code.\n"
    )
    assert _claims(CV.replace("fourteen", "14"), letter) == set()


def test_every_sample_postings_offline_documents_are_supported_by_the_profile():
    for posting in sample_postings():
        job = as_job(posting)
        generated = offline_outputs(job)["generate"].output
        found = verify_documents(
            generated["cv_markdown"],
            generated["cover_letter_markdown"],
            PROFILE,
            posting_title=job.title,
            company=job.company,
            posting_text=job.description,
        )
        assert found.unsupported == [], (job.title, found.unsupported)
        assert found.checked > 40
