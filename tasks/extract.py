"""Layer 1, extract: structure the posting (title, skills, requirements, seniority...)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from applyflow.models import Job
from tasks.layers import Layer, layer_task, posting_data, run_layer
from tasks.progress import LayerResult
from tasks.retries import LAYER_RETRIES
from tasks.run import RunContext, get_run

__all__ = ["EXTRACT", "ExtractOutput", "extract"]

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ExtractOutput(BaseModel):
    """The posting as structured data."""

    model_config = ConfigDict(extra="ignore", title="ExtractOutput")

    title: str = Field(min_length=1, max_length=300)
    company: str = Field(min_length=1, max_length=200)
    location: str | None = Field(None, max_length=300)
    remote_policy: Literal["remote", "hybrid", "onsite", "unspecified"]
    seniority: Literal[
        "intern", "junior", "mid", "senior", "lead", "principal", "executive", "unspecified"
    ]
    skills: list[Short] = Field(default_factory=list, max_length=60)
    requirements: list[Item] = Field(default_factory=list, max_length=40)
    responsibilities: list[Item] = Field(default_factory=list, max_length=40)
    keywords: list[Short] = Field(default_factory=list, max_length=30)
    years_experience: int | None = Field(None, ge=0, le=50)


def _input(job: Job, ctx: RunContext) -> dict[str, Any]:
    return {"posting": posting_data(job)}


EXTRACT = Layer(
    name="extract",
    schema=ExtractOutput,
    instructions="""
Structure the job posting in the input. Use only what the posting says.
- skills: concrete technologies, tools, methods and languages the posting names, short names.
- requirements / responsibilities: the posting's own bullet points, shortened if long.
- remote_policy: remote, hybrid, onsite, or unspecified when the posting does not say.
- seniority: from the title and the text; unspecified when unclear.
- years_experience: the smallest number of years asked for, or null.
- keywords: up to 10 terms a recruiter would search for.
""",
    max_tokens=1500,
    version="1",
    build_input=_input,
)


@layer_task("extract", retry=LAYER_RETRIES)
def extract(run_id: str, job_id: str) -> LayerResult:
    """Extract structured fields from the job's posting."""
    return run_layer(EXTRACT, get_run(run_id), job_id)
