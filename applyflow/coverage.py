"""Keyword coverage: the posting's skills and keywords against the CV and the profile."""

from __future__ import annotations

import re

from applyflow.models import Coverage
from applyflow.textrules import SKILLS

__all__ = ["keyword_coverage"]


def _named(term: str, text: str) -> bool:
    """A vocabulary skill by its pattern; any other term as a word (a plural counts)."""
    pattern = SKILLS.get(term)
    if pattern is not None:
        return bool(pattern.search(text))
    return bool(re.search(rf"(?<!\w){re.escape(term)}(?:s|es)?(?!\w)", text, re.IGNORECASE))


def keyword_coverage(
    skills: list[str], keywords: list[str], cv_text: str, profile_text: str
) -> Coverage:
    """Each of the posting's skills, then its other keywords: named in the CV, in the profile
    but not the CV, or in neither."""
    terms: list[str] = []
    for term in (*skills, *keywords):
        term = str(term).strip()
        if term and term.casefold() not in {t.casefold() for t in terms}:
            terms.append(term)
    coverage = Coverage(keywords=terms)
    for term in terms:
        if _named(term, cv_text):
            coverage.covered.append(term)
        elif _named(term, profile_text):
            coverage.left_out.append(term)
        else:
            coverage.lacking.append(term)
    return coverage
