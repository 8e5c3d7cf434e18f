"""The dossier: one page for the candidate (never sent) on a job: the posting's facts, the fit
and its gaps, the claims check, keyword coverage, the company, and what each layer cost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from applyflow.models import Coverage, Job
from applyflow.textrules import LANGUAGES, is_injection

__all__ = ["render_dossier"]


def _items(values: Any) -> list[str]:
    return [f"- {v}" for v in values or []] or ["- (none)"]


def _location(location: str | None, mode: str) -> str:
    """``Lisbon, Portugal (hybrid)``: the work mode once, only when the location lacks it."""
    where = location or "not stated"
    if mode in ("", "unspecified") or mode.casefold() in where.casefold():
        return where
    return f"{where} ({mode})"


def _fit(score: dict[str, Any]) -> list[str]:
    """The score's lists, counted the way its rationale counts them: spoken languages the
    profile has are listed apart and count only when the posting asks for nothing else."""
    matched = [str(s) for s in score.get("matched_skills") or []]
    gaps = [str(s) for s in score.get("gaps") or []]
    counted = [s for s in matched if s not in LANGUAGES]
    spoken = [s for s in matched if s in LANGUAGES]
    if not counted and not [g for g in gaps if g not in LANGUAGES]:
        counted, spoken = matched, []
    lines = [f"### Matched skills ({len(counted)} of {len(counted) + len(gaps)})", *_items(counted)]
    if spoken:
        lines += ["", "### Languages the posting asks for (in the profile)", *_items(spoken)]
    return [*lines, "", f"### Gaps ({len(gaps)})", *_items(gaps)]


def _claims(job: Job) -> list[str]:
    verification = job.verification
    if verification is None:
        return ["The documents have not been checked against the profile."]
    if not verification.unsupported:
        return [
            f"All {verification.checked} facts checked in the CV and cover letter (employers,"
            " titles, dates, numbers, degrees, institutions, skills) appear in the profile."
        ]
    lines = [
        f"{len(verification.unsupported)} of {verification.checked} facts checked are not in"
        f" the profile. The job stays `needs_review` until you have read them; correct the"
        f" documents, or approve them with `applyflow mark {job.id} ready`.",
        "",
    ]
    return lines + [f"- {claim}" for claim in verification.unsupported]


def _coverage(coverage: Coverage) -> list[str]:
    total = len(coverage.keywords)
    return [
        f"The CV names {len(coverage.covered)} of the posting's {total} skills and keywords"
        f" ({coverage.percent}%).",
        "",
        f"### Covered by the CV ({len(coverage.covered)})",
        *_items(coverage.covered),
        "",
        f"### In the profile, left out of the CV ({len(coverage.left_out)})",
        *_items(coverage.left_out),
        "",
        f"### Not in the profile ({len(coverage.lacking)})",
        *_items(coverage.lacking),
    ]


def render_dossier(job: Job, coverage: Coverage, notes: Sequence[str] = ()) -> str:
    """The dossier in Markdown, from the job's stored outputs (no model call)."""
    ex, rs, sc = (job.outputs[name].output for name in ("extract", "research", "score"))
    asks = [str(r) for r in ex.get("requirements") or []]
    injected = [r for r in asks if is_injection(r)] + [
        line.strip() for line in job.description.splitlines() if is_injection(line)
    ]
    years = ex.get("years_experience")
    lines = [
        f"# {job.title} at {job.company}",
        "",
        f"- Location: {_location(job.location, str(ex.get('remote_policy', '')))}",
        f"- Seniority: {ex.get('seniority', 'unspecified')}",
        f"- Years asked: {years if years is not None else 'not stated'}",
        f"- Posting: {job.url or 'no link'} (source {job.source}, job id {job.id})",
        "",
        f"## Fit: {sc.get('fit')} / 100 ({sc.get('category')})",
        "",
        str(sc.get("rationale", "")),
        "",
        *_fit(sc),
        "",
        "## Claims check",
        "",
        *_claims(job),
        "",
        "## Keyword coverage",
        "",
        *_coverage(coverage),
        "",
        "## Company",
        "",
        str(rs.get("summary", "")),
        "",
        *_items(rs.get("signals")),
        "",
        "## Requirements",
        *_items([r for r in asks if not is_injection(r)]),
        "",
        "## Responsibilities",
        *_items(ex.get("responsibilities")),
    ]
    notes = list(notes)
    if injected:
        quoted = "; ".join(dict.fromkeys(f'"{line[:200]}"' for line in injected))
        notes.append(f"The posting holds text addressed to AI screening tools, ignored: {quoted}")
    if notes:
        lines += ["", "## Notes", *_items(notes)]
    lines += ["", "## How this was made", "", "| layer | model | cost (USD) |", "|---|---|---|"]
    for name, out in job.outputs.items():
        if name != "publish":
            lines.append(f"| {name} | {out.model} | {out.cost_usd:.6f} |")
    return "\n".join(lines) + "\n"
