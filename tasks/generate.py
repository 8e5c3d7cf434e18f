"""Layer 4, generate: a tailored CV and cover letter in Markdown, from profile facts only."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from applyflow.models import Job
from applyflow.textrules import parse_profile
from tasks.layers import Layer, layer_task, posting_data, run_layer, upstream
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


GENERATE = Layer(
    name="generate",
    schema=GenerateOutput,
    instructions="""
Write a CV and a cover letter in Markdown for this candidate and this job.
- Use ONLY facts from the profile: employers, titles, dates, numbers, skills and education
  exactly as the profile states them. Never invent experience, metrics or skills.
- Tailor by choosing and ordering: put the profile's experience that matches the job first.
- The cover letter is short (under 300 words), addressed to the company, and honest about gaps.
- highlighted_skills: the profile skills you emphasised (each must appear in the profile).
""",
    max_tokens=3000,
    version="1",
    build_input=_input,
)


@layer_task("generate", retry=LAYER_RETRIES)
def generate(run_id: str, job_id: str) -> LayerResult:
    """Write the tailored CV and cover letter."""
    return run_layer(GENERATE, get_run(run_id), job_id)
