"""Layer 4, generate: a tailored CV and cover letter in Markdown, from profile facts only.

After the reply parses, every claim of both documents is checked against the profile
(``applyflow.claims``): unsupported claims get the layer's one repair call, naming each; any
that remain are stored with the output as ``verification``, and the job ends ``needs_review``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from applyflow.claims import verify_documents
from applyflow.models import Job
from applyflow.textrules import parse_profile
from tasks.layers import Layer, Review, layer_task, posting_data, run_layer, upstream
from tasks.progress import LayerResult
from tasks.retries import LAYER_RETRIES
from tasks.run import RunContext, get_run

__all__ = ["GENERATE", "GenerateOutput", "generate"]


class GenerateOutput(BaseModel):
    """The application documents."""

    model_config = ConfigDict(extra="ignore", title="GenerateOutput")

    cv_markdown: str = Field(min_length=50, max_length=30_000)
    cover_letter_markdown: str = Field(min_length=50, max_length=10_000)
    highlighted_skills: list[str] = Field(default_factory=list, max_length=40)

    @model_validator(mode="after")
    def _only_profile_skills(self, info: ValidationInfo) -> GenerateOutput:
        # A skill the documents highlight must be one the profile shows: nothing invented.
        profile_text = (info.context or {}).get("profile")
        if profile_text:
            profile = parse_profile(profile_text)
            invented = [s for s in self.highlighted_skills if not profile.mentions(s)]
            if invented:
                raise ValueError(
                    f"highlighted_skills not in the candidate profile: {', '.join(invented[:8])}"
                )
        return self


def _input(job: Job, ctx: RunContext) -> dict[str, Any]:
    return {
        "posting": posting_data(job),
        "extract": upstream(job, "extract", "generate"),
        "research": upstream(job, "research", "generate"),
        "score": upstream(job, "score", "generate"),
        "profile": ctx.profile,
    }


def _verify(parsed: BaseModel, job: Job, ctx: RunContext) -> Review:
    """Every employer, title, date, number, degree, institution and skill the documents name
    must be in the profile."""
    assert isinstance(parsed, GenerateOutput)
    verification = verify_documents(
        parsed.cv_markdown,
        parsed.cover_letter_markdown,
        ctx.profile,
        posting_title=job.title,
        company=job.company,
        posting_text=job.description,
    )
    problems = [str(claim) for claim in verification.unsupported]
    if problems:
        problems = [
            "Your CV and cover letter state things the candidate profile does not: "
            + "; ".join(problems)
        ]
    return Review(problems, {"verification": verification.model_dump(mode="json")})


GENERATE = Layer(
    name="generate",
    schema=GenerateOutput,
    instructions="""
Write a CV and a cover letter in Markdown for this candidate and this job.
- Use ONLY facts from the profile: employers, titles, dates, numbers, skills and education
  exactly as the profile states them. Never invent experience, metrics or skills. Every claim
  is checked against the profile.
- Tailor by choosing and ordering: put the profile's experience that matches the job first.
- The CV: "# Name", the contact line, then "## Summary", "## Skills", "## Experience" (one
  "### Title — Employer (years)" per role, bullets under it), "## Education", "## Languages".
  Name the role and the company once, in the summary. Leave out private sections such as
  Preferences, and list each language once.
- The cover letter is short (under 300 words), addressed to the company, in whole sentences,
  with evidence from the profile told in the sentences. Do not write about gaps or skills the
  candidate lacks: those go to the dossier, not to the employer.
- highlighted_skills: the profile skills you emphasised (each must appear in the profile).
""",
    max_tokens=3000,
    version="2",
    build_input=_input,
    review=_verify,
    repair_hint="Remove or correct each of them, using only facts from the profile.",
)


@layer_task("generate", retry=LAYER_RETRIES)
def generate(run_id: str, job_id: str) -> LayerResult:
    """Write the tailored CV and cover letter."""
    return run_layer(GENERATE, get_run(run_id), job_id)
