"""The offline model's CV and cover letter: templates filled with the profile's own lines.

What a person could send as written: no internal headings or placeholders, no private
sections (Preferences and the like), each language once, whole sentences, evidence told as
"At <employer>, I <did what the profile says>." Gaps are not confessed in the letter: they
belong in the dossier, which lists them from the score.
"""

from __future__ import annotations

import re

from applyflow.documents.markdown import parse_role
from applyflow.textrules import LANGUAGES, PRIVATE_SECTIONS, Profile, Role, find_skills, sentences

__all__ = ["cover_letter", "cv"]

_OWN_SECTIONS = ("summary", "skills", "experience")
# Irregular past tenses that open CV bullets ("Ran the migration...", "Led a team...").
_PAST = frozenset(
    """ran built wrote led made cut grew drove took won gave began brought taught held kept found
    sold spent became set rebuilt rewrote oversaw undertook got met put read sped split bought
    chose spoke stood understood sent lent dealt paid told""".split()  # noqa: SIM905
)
_FIRST_PERSON = re.compile(r"^(?:I|I'm|I've|My|Over|For|With|As|After|Since|In|Across)\b")


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _listed_skills(profile: Profile, matched: list[str]) -> list[str]:
    """The profile's own skill names, those the posting asks for first; a language only when
    the profile has no Languages section to show it in."""
    listed = profile.items("Skills") or profile.skills
    if profile.languages:
        listed = [s for s in listed if s not in LANGUAGES]
    asked = [s for s in listed if any(m.casefold() == s.casefold() for m in matched)]
    asked += [s for s in listed if s not in asked and set(find_skills(s)) & set(matched)]
    return asked + [s for s in listed if s not in asked]


def cv(profile: Profile, title: str, company: str, matched: list[str]) -> str:
    """The profile as a CV for this job: relevant skills and bullets first."""
    lines = [f"# {profile.name}"]
    if profile.contact:
        lines.append(profile.contact)
    target = f"I am applying for the {title} role at {company}." if title and company else ""
    own = _sentence(profile.summary) if profile.summary else ""
    summary = " ".join(x for x in (own, target) if x)
    if summary:
        lines += ["", "## Summary", summary]
    skills = _listed_skills(profile, matched)
    if skills:
        lines += ["", "## Skills", ", ".join(skills)]
    if profile.roles:
        lines += ["", "## Experience"]
        for role in profile.roles:
            relevant = [b for b in role.bullets if set(find_skills(b)) & set(matched)]
            ordered = relevant + [b for b in role.bullets if b not in relevant]
            lines += ["", f"### {role.header}", *[f"- {b}" for b in ordered]]
    for head, body in profile.sections.items():
        if head.casefold() in _OWN_SECTIONS or PRIVATE_SECTIONS.match(head) or not body:
            continue
        lines += ["", f"## {head}", *body]
    return "\n".join(lines).strip() + "\n"


def _introduce(summary: str) -> str:
    """The summary's first sentence as a whole sentence about "I"."""
    first = _sentence(sentences(summary)[0]) if summary else ""
    if not first or _FIRST_PERSON.match(first):
        return first
    word, _, rest = first.partition(" ")
    if word.endswith("ed") and rest.split(" ", 1)[0] in ("in", "at", "with"):
        return f"I am {word.lower()} {rest}"  # "Experienced in ..." -> "I am experienced in ..."
    keep = word[1:] != word[1:].lower() or find_skills(word)  # "AWS-certified", "Python"
    lead = word if keep else word.lower()
    article = "an" if lead[:1].lower() in "aeiou" else "a"
    return f"I am {article} {lead} {rest}"


def _told(bullet: str) -> str | None:
    """A bullet that opens with a past-tense verb, as the rest of "I ...", else None."""
    verb, _, rest = bullet.strip().partition(" ")
    low = verb.lower()
    if not rest or not (low.endswith("ed") or low in _PAST) or verb[1:] != verb[1:].lower():
        return None
    return _sentence(f"{low} {rest}")


def _evidence(profile: Profile, matched: list[str]) -> list[str]:
    """Up to three sentences, "At <employer>, I ...", from the bullets naming the most
    important matched skills (the posting lists those first)."""
    weight = {skill: len(matched) - rank for rank, skill in enumerate(matched)}
    scored: list[tuple[int, int, Role, str]] = []
    for order, (role, bullet) in enumerate((r, b) for r in profile.roles for b in r.bullets):
        told = _told(bullet)
        points = sum(weight.get(s, 0) for s in find_skills(bullet))
        if told and points:
            scored.append((-points, order, role, told))
    best = sorted(scored, key=lambda t: (t[0], t[1]))[:3]
    out: list[str] = []
    last_role: Role | None = None
    for _, _, role, told in sorted(best, key=lambda t: t[1]):
        if role is last_role:
            out.append(f"I also {told}")
        else:
            entry = parse_role(role.header)
            where = f"At {entry.org}" if entry.org else f"As {entry.title}"
            out.append(f"{where}, I {told}")
        last_role = role
    return out


def cover_letter(
    profile: Profile, title: str, company: str, matched: list[str], asked_languages: list[str]
) -> str:
    """A short letter: the role, who the candidate is, the matched skills with evidence from
    the profile, the languages the posting asks for, a thank-you."""
    company = company or "your team"
    opening = (
        f"I am applying for the {title} role at {company}."
        if title
        else (f"I am writing to apply to {company}.")
    )
    intro = " ".join(x for x in (opening, _introduce(profile.summary)) if x)
    body = [f"Dear {company} hiring team,", "", intro]
    skills = [s for s in matched if s not in LANGUAGES][:6]
    if skills:
        evidence = _evidence(profile, matched)
        lead = f"Your posting asks for {_and(skills)}, which I have used in my work."
        body += ["", " ".join([lead, *evidence])]
    spoken = [
        lang
        for lang in profile.languages
        if any(re.match(rf"{re.escape(a)}\b", lang, re.IGNORECASE) for a in asked_languages)
    ]
    if spoken:
        body += ["", f"I speak {_and(spoken)}."]
    body += [
        "",
        f"I would welcome the chance to talk about how I could help {company}. "
        "Thank you for your time.",
        "",
        "Kind regards,",
        profile.name,
    ]
    return "\n".join(body) + "\n"
