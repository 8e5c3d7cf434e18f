"""What a candidate profile gives the layers, and what would spoil the documents made from it.

The layers read the profile in the layout of ``samples/profile.md`` (``textrules.parse_profile``):
``# Name``, a contact line, ``## Summary``, ``## Skills``, ``## Experience`` with one
``### Title — Employer (years)`` per role and its bullets, ``## Education``, ``## Languages``;
other sections are copied into the CV as written, private ones (Preferences, Notes...) never.
A heading a CV often uses for one of those sections ("Work History", "Technical Skills") is not
read as that section: its roles would reach the CV as empty headings. ``check_profile`` names
such headings as errors; ``applyflow profile check`` and the CLI's preflight print them.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import BaseModel, Field

from applyflow.errors import InputError
from applyflow.models import ProfileRef
from applyflow.profile_import import section_of
from applyflow.textrules import PRIVATE_SECTIONS, parse_profile

__all__ = [
    "USES", "ProfileCheck", "ProfileSection", "check_profile", "layout_problems", "profile_ref",
    "read_profile",
]  # fmt: skip

# The sections the layers read by name, and what reads them.
USES = {
    "Summary": "score (years of experience) and generate (the CV summary, the letter's opening)",
    "Skills": "score (the skills that match) and generate (the CV's skills; highlighted skills "
    "must be listed)",
    "Experience": "generate (each ### role and its bullets) and the claims check (titles, "
    "employers, dates, numbers)",
    "Education": "generate and the claims check (degrees, institutions, dates)",
    "Languages": "generate (the CV); spoken languages do not count toward the fit",
}
REQUIRED = ("Experience",)  # without roles there is no CV to speak of
RECOMMENDED = ("Summary", "Skills", "Education")
COPIED = "copied into the CV as written"
PRIVATE = "private: never copied into a document"


class ProfileSection(BaseModel):
    """A ``##`` heading of the profile and what applyflow does with it."""

    heading: str
    kind: str  # read | copied | private | unknown | misnamed
    use: str
    lines: int = 0  # lines under it (roles count their bullets)


class ProfileCheck(BaseModel):
    """The sections found, the headings applyflow does not read, and the problems."""

    name: str | None
    roles: int
    sections: list[ProfileSection] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # the documents would come out wrong
    warnings: list[str] = Field(default_factory=list)  # worth fixing; the run can go on

    @property
    def unknown(self) -> list[str]:
        return [s.heading for s in self.sections if s.kind == "unknown"]

    @property
    def ok(self) -> bool:
        return not self.errors


def read_profile(path: Path) -> str:
    """The profile's text; ``InputError`` naming the path when it is missing, unreadable or
    empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(str(path), None, f"cannot read the candidate profile: {why}") from None
    if not text.strip():
        raise InputError(str(path), None, "the candidate profile is empty")
    return text


def profile_ref(path: Path, text: str) -> ProfileRef:
    """Where a profile was read and the SHA-256 of its text (what runs and outputs record)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ProfileRef(path=str(path.expanduser().resolve()), sha256=digest)


def _blocks(text: str) -> list[tuple[str, list[str], list[str]]]:
    """(``##`` heading, its ``###`` entries, its other lines) in order."""
    out: list[tuple[str, list[str], list[str]]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith("## "):
            out.append((line[3:].strip(), [], []))
        elif out and line.startswith("### "):
            out[-1][1].append(line[4:].strip())
        elif out and line.strip():
            out[-1][2].append(line.strip())
    return out


def _reads_as(heading: str) -> str | None:
    """The section name ``parse_profile`` reads this heading as, if any."""
    if heading.casefold().startswith("experience"):
        return "Experience"
    if heading == "Summary":  # read by its exact name
        return heading
    folded = heading.casefold()
    return next((n for n in USES if n != "Summary" and n.casefold() == folded), None)


def _section(heading: str, entries: list[str], lines: list[str]) -> ProfileSection:
    count = len(entries) + len(lines)
    read = _reads_as(heading)
    if read is not None:
        return ProfileSection(heading=heading, kind="read", use=USES[read], lines=count)
    if PRIVATE_SECTIONS.match(heading):
        return ProfileSection(heading=heading, kind="private", use=PRIVATE, lines=count)
    meant = section_of(heading)
    if meant in USES:
        use = f"not read as {meant}: rename it '## {meant}'"
        return ProfileSection(heading=heading, kind="misnamed", use=use, lines=count)
    kind = "copied" if meant is not None else "unknown"
    return ProfileSection(heading=heading, kind=kind, use=COPIED, lines=count)


def check_profile(text: str) -> ProfileCheck:
    """The profile's sections and its problems (errors spoil the documents; warnings do not)."""
    profile = parse_profile(text)
    blocks = _blocks(text)
    sections = [_section(head, entries, lines) for head, entries, lines in blocks]
    errors: list[str] = []
    warnings: list[str] = []
    if not re.search(r"^# \S", text, re.MULTILINE):
        errors.append("no name: start the profile with a '# Your Name' line")
    for section in sections:
        if section.kind == "misnamed":
            errors.append(f"heading '## {section.heading}' is {section.use}")
    for (head, entries, _), section in zip(blocks, sections, strict=True):
        if entries and _reads_as(head) != "Experience" and section.kind != "misnamed":
            errors.append(
                f"'### {entries[0]}' is under '## {head}': only ### entries under "
                "'## Experience' are read (as roles); make them bullets ('- ...')"
            )
    found = {_reads_as(s.heading) for s in sections if s.kind == "read"}
    misnamed = {section_of(s.heading) for s in sections if s.kind == "misnamed"}
    for name in REQUIRED:
        if name not in found and name not in misnamed:
            errors.append(
                f"no '## {name}' section with '### Title — Employer (years)' roles; "
                f"the layers use it for {USES[name]}"
            )
    if "Experience" in found and not profile.roles:
        errors.append("'## Experience' has no '### Title — Employer (years)' roles")
    elif "Experience" in found and not any(role.bullets for role in profile.roles):
        warnings.append("the roles under '## Experience' have no '- ' bullets")
    for name in RECOMMENDED:
        if name not in found and name not in misnamed:
            warnings.append(f"no '## {name}' section (used by {USES[name]})")
    if not profile.contact:
        warnings.append("no contact line under the name (the letter's sender block uses it)")
    unknown = [s.heading for s in sections if s.kind == "unknown"]
    if unknown:
        listed = ", ".join(f"'## {h}'" for h in unknown)
        warnings.append(f"heading(s) applyflow does not know, {COPIED}: {listed}")
    name = profile.name if profile.name != "Candidate" or "# Candidate" in text else None
    return ProfileCheck(
        name=name, roles=len(profile.roles), sections=sections, errors=errors, warnings=warnings
    )


def layout_problems(markdown: str) -> list[str]:
    """What a profile lacks that the layers use (empty when it has everything)."""
    profile = parse_profile(markdown)
    problems = []
    if profile.name == "Candidate":
        problems.append("no name (a '# Name' line)")
    if not profile.contact:
        problems.append("no contact line under the name")
    for name in ("Summary", "Skills", "Education", "Languages"):
        if (
            name != "Summary"
            and not profile.section(name)
            or name == "Summary"
            and not profile.summary
        ):
            problems.append(f"no ## {name} section")
    if not profile.roles:
        problems.append("no roles under ## Experience ('### Title — Employer (years)')")
    elif not any(role.bullets for role in profile.roles):
        problems.append("no bullets under the roles")
    return problems
