"""The offline model's CV and letter can be sent as written, and its fit analysis agrees with
itself, on the sample postings (the nurse posting among them)."""

from __future__ import annotations

import re

import pytest

from applyflow.application import build_application
from applyflow.models import Job
from applyflow.textrules import LANGUAGES
from tests.samples import PROFILE, as_job, offline_outputs, sample_posting, sample_postings

CV_HEADINGS = {"Summary", "Skills", "Experience", "Education", "Languages"}


def _job(title: str, **changes: str) -> Job:
    job = as_job(sample_posting(title).model_copy(update=changes))
    job.outputs = offline_outputs(job)
    return job


@pytest.fixture(scope="module")
def every_job() -> list[Job]:
    jobs = []
    for posting in sample_postings():
        job = as_job(posting)
        job.outputs = offline_outputs(job)
        jobs.append(job)
    return jobs


def _generated(job: Job) -> tuple[str, str]:
    out = job.outputs["generate"].output
    return out["cv_markdown"], out["cover_letter_markdown"]


def test_cvs_have_no_internal_headings_placeholders_or_private_sections(every_job):
    for job in every_job:
        cv, _ = _generated(job)
        headings = set(re.findall(r"^## (.+)$", cv, re.MULTILINE))
        assert headings == CV_HEADINGS, (job.title, headings)
        assert "(no skill" not in cv and "Skills for" not in cv
        assert "Preferences" not in cv and "hybrid in Lisbon" not in cv
        assert f"the {job.title} role at {job.company}." in cv  # the company, in a sentence


def test_each_language_appears_once_in_a_cv(every_job):
    for job in every_job:
        cv, _ = _generated(job)
        for language in ("English", "Portuguese", "Spanish"):
            assert cv.count(language) == 1, (job.title, language)


def test_letters_are_whole_sentences_without_gaps_or_role_tags(every_job):
    for job in every_job:
        _, letter = _generated(job)
        gaps = job.outputs["score"].output["gaps"]
        paragraphs = [p.strip() for p in letter.split("\n\n") if p.strip()]
        body = paragraphs[1:-1]  # between the salutation and the sign-off
        assert paragraphs[0] == f"Dear {job.company} hiring team,"
        assert paragraphs[-1] == "Kind regards,\nAlex Morgan"
        for paragraph in body:
            assert paragraph[0].isupper() and paragraph.endswith("."), paragraph
            assert not paragraph.startswith(("- ", "In short")), paragraph
        assert "have not yet" not in letter and "learn on the job" not in letter
        # A gap may be in the posting's title ("Frontend Engineer (React)"), nowhere else.
        rest = letter.replace(job.title, "")
        assert not any(re.search(rf"\b{re.escape(g)}\b", rest) for g in gaps), (job.title, gaps)
        assert " (Senior Backend Engineer" not in letter and "(20" not in letter


def test_evidence_is_told_in_sentences_about_the_employer():
    _, letter = _generated(_job("Senior Python Backend Engineer"))
    assert (
        "At Tidewater Logistics, I designed the shipment-tracking API in Python and FastAPI, "
        "serving 40 million requests a day on PostgreSQL and Redis."
    ) in letter
    assert "I am a backend and data engineer with 7 years of experience" in letter


def test_the_nurse_posting_gets_an_honest_letter_and_a_consistent_fit():
    job = _job("Registered Nurse, Night Shift")
    cv, letter = _generated(job)
    score = job.outputs["score"].output
    assert score["gaps"] == ["nursing", "clinical care"]
    assert score["matched_skills"] == ["Portuguese", "English"]
    assert score["rationale"].startswith("The profile covers 0 of the 2 skills")
    assert "Portuguese, English, which the profile has" in score["rationale"]
    dossier = build_application(job, PROFILE).texts["dossier.md"]
    assert "### Matched skills (0 of 2)\n- (none)" in dossier
    assert "### Languages the posting asks for (in the profile)\n- Portuguese\n- English" in dossier
    assert "### Gaps (2)\n- nursing\n- clinical care" in dossier
    # The letter says which languages the candidate speaks, because the posting asks.
    assert "I speak English (fluent) and Portuguese (native)." in letter
    assert "nursing" not in letter.casefold()


def test_counts_in_the_rationale_match_the_lists(every_job):
    for job in every_job:
        score = job.outputs["score"].output
        matched = [s for s in score["matched_skills"] if s not in LANGUAGES]
        counted = len(matched) + len(score["gaps"])
        hits = int(re.match(r"The profile covers (\d+) of the (\d+)", score["rationale"])[1])
        total = int(re.match(r"The profile covers (\d+) of the (\d+)", score["rationale"])[2])
        if matched or [g for g in score["gaps"] if g not in LANGUAGES]:
            assert (hits, total) == (len(matched), counted), job.title


def test_languages_count_only_when_the_posting_asks_for_them():
    junior = _job("Junior Software Developer").outputs["score"].output
    assert not set(junior["matched_skills"]) & LANGUAGES  # the posting names no language
    _, letter = _generated(_job("Junior Software Developer"))
    assert "I speak" not in letter


def test_a_skill_word_inside_a_product_phrase_is_not_a_gap():
    job = _job(
        "Junior Software Developer",
        description="About us:\nWe build accounting software for small firms.\n\n"
        "Requirements:\n- Python and SQL\n",
    )
    extract, score = job.outputs["extract"].output, job.outputs["score"].output
    assert "accounting" not in extract["skills"] and "accounting" not in score["gaps"]
    accountant = _job("Senior Accountant").outputs["extract"].output
    assert "accounting" in accountant["skills"]  # "5+ years of accounting experience"


def test_either_or_skills_are_met_by_the_alternative_the_profile_has():
    score = _job("Go Backend Engineer").outputs["score"].output
    assert "Kafka" in score["matched_skills"] and "RabbitMQ" not in score["gaps"]
    assert "RabbitMQ (Kafka instead)" in score["rationale"]


def test_the_location_says_the_work_mode_once():
    job = _job("Senior Python Backend Engineer", location="Manchester, UK (hybrid)")
    dossier = build_application(job, PROFILE).texts["dossier.md"]
    assert "- Location: Manchester, UK (hybrid)\n" in dossier
    plain = _job("Security Engineer")  # London, UK; the posting says on-site
    assert (
        "- Location: London, UK (onsite)\n" in build_application(plain, PROFILE).texts["dossier.md"]
    )


def test_a_prompt_injection_line_is_not_a_requirement_or_a_keyword():
    job = _job("Engineering Manager, Data Platform")
    extract = job.outputs["extract"].output
    assert not any("screening tools" in r for r in extract["requirements"])
    assert not {"candidate", "instructions", "ignore", "score"} & set(extract["keywords"])
    dossier = build_application(job, PROFILE).texts["dossier.md"]
    requirements = dossier.split("## Requirements")[1].split("##")[0]
    assert "ignore previous instructions" not in requirements
    assert "text addressed to AI screening tools, ignored" in dossier


def test_bare_work_mode_lines_are_not_requirements():
    extract = _job("Registered Nurse, Night Shift").outputs["extract"].output
    assert "On-site." not in extract["requirements"]
