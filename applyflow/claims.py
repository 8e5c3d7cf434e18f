"""Claims verification: every fact a CV or cover letter states must appear in the profile.

Computed, never trusted from the model. Checked, in the CV and the letter:
- each role line (``### Title — Employer (dates)``): the title, the employer and the date range;
  entries under an Education heading: the degree, the institution and the dates;
- every number and percentage ("5+ years" is 5 years, "80 percent" is 80%, "40,000" is 40000,
  number words two to twenty count as numbers); full dates such as "2 March 2026" are not facts
  about the candidate and are skipped;
- every degree (BSc, MSc, PhD, Bachelor's...) and institution (University of..., ...Institute);
- every vocabulary skill (``textrules.SKILLS``);
- every other proper name in the prose (capitalised words not starting a sentence, e.g. an
  employer in "I led the team at Globex Corporation"), which may also come from the posting.
Matching ignores case, dash style and spacing. The posting's own title and company may always
be named, and the profile's contact details are not claims.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from applyflow.documents.markdown import parse_cv
from applyflow.documents.model import CvDocument, Entry, plain
from applyflow.models import Claim, Verification
from applyflow.textrules import SKILLS, Profile, find_skills, parse_profile

__all__ = ["normalise", "verify_documents"]

_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
        fifteen sixteen seventeen eighteen nineteen twenty""".split()  # noqa: SIM905
    )
}
# "one" is too often not a number ("one of", "no one").
_COUNTED_WORDS = "|".join(w for w in _NUMBER_WORDS if w not in ("zero", "one"))
_SCALES = r"thousand|million|billion|trillion"
_NUMBER = re.compile(
    rf"(?<![\w.,])(\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?)\+?(?:\s*({_SCALES}))?(\s*%)?(?![\w])"
    rf"|\b({_COUNTED_WORDS})\b",
    re.IGNORECASE,
)
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_FULL_DATE = re.compile(
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\s+\d{{4}}\b|\b{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,"
    rf"\s+\d{{4}}\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b",
    re.IGNORECASE,
)
_URL = re.compile(
    r"\b(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+|\b[\w-]+\.(?:com|io|dev|org|net)/\S*"
)
_DEGREE = re.compile(
    r"(?<!\w)(?-i:B\.?Sc|M\.?Sc|B\.?A|M\.?A|B\.?Eng|M\.?Eng|Ph\.?D|MBA|BBA|LL\.?B|LL\.?M"
    r"|M\.?Phil|B\.?Tech|M\.?Tech|HND)(?!\w)"
    r"|\b(?:bachelor(?:'s|’s)?|master(?:'s|’s)?)\s+(?:degree|of|in)\b|\bdoctorate\b|\bdiploma\b",
    re.IGNORECASE,
)
_NAME_WORD = r"[A-Z\u00C0-\u024F][\w'’&.+#/-]*"
_INSTITUTION = re.compile(
    rf"(?:{_NAME_WORD}\s+){{0,4}}(?:University|Universidade|Universidad|Université|Universität"
    rf"|Università|Institute|College|Polytechnic|Politechnika|Politecnico|School|Academy)"
    rf"(?:\s+(?:of|de|do|da|di|der|des|del|für)\s+{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,3}})?"
)
_NAME_RUN = re.compile(
    rf"(?<![\w]){_NAME_WORD}(?:\s+(?:(?:&|of|de|da|do|von|van)\s+)?{_NAME_WORD})*"
)
# Capitalised words that are not names (a letter's greeting and sign-off, calendar words).
_COMMON = frozenset(
    """i i'm i've i'd i'll dear hello hi kind best regards sincerely yours thank thanks cv pdf
    docx mr ms mrs dr ok monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december""".split()  # noqa: SIM905
)
_EDUCATION = re.compile(r"education|degree|qualification|academic", re.IGNORECASE)


# (pattern, replacement) in order: what normalise() does after case and dashes.
_FORMS = [
    (re.compile(p), r)
    for p, r in (
        (r"(?<=\d),(?=\d{3}\b)", ""),  # 40,000 -> 40000
        (r"(?<=\d)\+", ""),  # 5+ years -> 5 years
        (r"\s*(?:per ?cent|percent)\b|\s+%", "%"),
        (r"\s*-\s*(?=\d|(?:present|now|current|today)\b)", "-"),  # 2018 - 2021 -> 2018-2021
        (r"-(?:now|current|today)\b", "-present"),
        (r"(?<=\d)\s+to\s+(?=\d|present)", "-"),  # 2018 to 2021
        (r"\s+", " "),
    )
]


def normalise(text: str) -> str:
    """Lower case, one kind of dash, single spaces, '5+ years' -> '5 years', '80 percent' ->
    '80%', '40,000' -> '40000', 'present'/'now'/'current' -> 'present' after a dash."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DASHES.sub("-", text).replace("’", "'")
    for pattern, replacement in _FORMS:
        text = pattern.sub(replacement, text)
    return text.strip()


class _Haystack:
    """Normalised text that claims are looked up in, with word boundaries."""

    def __init__(self, *texts: str) -> None:
        self.text = " \n ".join(normalise(t) for t in texts if t)
        self.numbers = {n for n, _ in _numbers(self.text)}

    def has(self, phrase: str) -> bool:
        needle = normalise(phrase)
        if not needle:
            return True
        # A plural is the same claim ("APIs" / "API").
        pattern = rf"(?<![\w]){re.escape(needle)}(?:s|es)?(?![\w])"
        return re.search(pattern, self.text) is not None


def _numbers(text: str) -> Iterator[tuple[str, str]]:
    """(canonical value, as written) of every number in ``text``."""
    for m in _NUMBER.finditer(text):
        if m.group(4):
            yield _NUMBER_WORDS[m.group(4).casefold()], m.group(0)
            continue
        value = m.group(1).replace(",", "")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        scale = f" {m.group(2).casefold()}" if m.group(2) else ""
        yield f"{value}{scale}{'%' if m.group(3) else ''}", m.group(0).strip()


def _prose(doc: CvDocument) -> Iterator[str]:
    """Every paragraph and bullet of a parsed document, entries' own text included."""
    if doc.headline:
        yield plain(doc.headline)
    for section in doc.sections:
        for block in section.blocks:
            if block.paragraph is not None:
                yield plain(block.paragraph)
            for item in block.bullets or []:
                yield plain(item)
            if block.entry is not None:
                for part in (*block.entry.paragraphs, *block.entry.bullets):
                    yield plain(part)


def _entries(doc: CvDocument) -> Iterator[tuple[Entry, bool]]:
    """(entry, under an education heading) for every ``###`` entry."""
    for section in doc.sections:
        education = bool(_EDUCATION.search(section.heading))
        for block in section.blocks:
            if block.entry is not None:
                yield block.entry, education


@lru_cache(maxsize=8)
def _profile(profile_text: str) -> tuple[Profile, _Haystack]:
    """The parsed and normalised profile (the same for every job of a run)."""
    return parse_profile(profile_text), _Haystack(profile_text)


class _Checker:
    def __init__(self, profile_text: str, posting_text: str, exempt: list[str]) -> None:
        self.profile, self.facts = _profile(profile_text)
        self.context = _Haystack(posting_text)  # names may come from the posting too
        self.exempt = [e for e in exempt if e.strip()]
        self.checked: set[tuple[str, str]] = set()
        self.unsupported: list[Claim] = []

    def check(self, kind: str, text: str, document: str, supported: bool) -> None:
        text = text.strip(" .,;:")
        key = (kind, normalise(text))
        if not text or key in self.checked:
            return
        self.checked.add(key)
        if not supported:
            self.unsupported.append(Claim(kind=kind, text=text, document=document))

    def entry(self, entry: Entry, education: bool, document: str) -> None:
        title_kind, org_kind = ("degree", "institution") if education else ("title", "employer")
        self.check(title_kind, entry.title, document, self.facts.has(entry.title))
        if entry.org:
            self.check(org_kind, entry.org, document, self.facts.has(entry.org))
        if entry.dates:
            self.check("dates", entry.dates, document, self.facts.has(entry.dates))

    def _strip(self, text: str) -> str:
        """The text without what is never a claim: the posting's title and company, the
        profile's contact details, links and addresses, full dates."""
        for phrase in sorted(self.exempt, key=len, reverse=True):
            text = re.sub(re.escape(phrase), " ", text, flags=re.IGNORECASE)
        text = _URL.sub(" ", text)
        return _FULL_DATE.sub(" ", text)

    def prose(self, raw: str, document: str) -> None:
        text = self._strip(raw)
        for value, written in _numbers(normalise(text)):
            self.check("number", written, document, value in self.facts.numbers)
        for m in _DEGREE.finditer(text):
            self.check("degree", m.group(0), document, self.facts.has(m.group(0)))
        for m in _INSTITUTION.finditer(text):
            self.check("institution", m.group(0), document, self.facts.has(m.group(0)))
        skills = find_skills(text)
        for skill in skills:
            self.check("skill", skill, document, self.profile.mentions(skill))
        for name in _names(text):
            if not any(SKILLS[s].fullmatch(name) for s in skills):  # a skill: checked above
                supported = self.facts.has(name) or self.context.has(name)
                self.check("name", name, document, supported)


def _names(text: str) -> Iterator[str]:
    """Runs of capitalised words, leading common words dropped; a single word that only
    starts a sentence is not a name."""
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n+", text):
        for m in _NAME_RUN.finditer(sentence):
            words = re.sub(r"['’]s$", "", m.group(0)).split()
            starts = m.start() == len(sentence) - len(sentence.lstrip())
            while words and words[0].casefold().strip(",") in _COMMON | _LEADING:
                words.pop(0)
                starts = False
            while words and words[-1].casefold().strip(",") in _COMMON:  # "...Corporation I"
                words.pop()
            if not words or (starts and len(words) == 1 and m.group(0) == words[0]):
                continue
            yield " ".join(words).strip(",.;:")


# Sentence openers that are capitalised for that reason only ("At Parcelly, I built...").
_LEADING = frozenset(
    """a an the at as in on for with by from to my our your their this that these those when while
    after before during since over across through and but or so then also here there we you they
    he she it if although though because""".split()  # noqa: SIM905
)


def verify_documents(
    cv_markdown: str,
    letter_markdown: str,
    profile_text: str,
    *,
    posting_title: str = "",
    company: str = "",
    posting_text: str = "",
) -> Verification:
    """Check every claim of the CV and the letter against the profile."""
    profile, _ = _profile(profile_text)
    exempt = [posting_title, company, profile.name, *re.split(r"\s+[·|•]\s+", profile.contact)]
    checker = _Checker(profile_text, posting_text, exempt)
    for document, markdown in (("cv", cv_markdown), ("cover_letter", letter_markdown)):
        doc = parse_cv(markdown, title="")
        for entry, education in _entries(doc):
            checker.entry(entry, education, document)
        for item in doc.contact:
            checker.check("contact", item, document, checker.facts.has(item))
        for text in _prose(doc):
            checker.prose(text, document)
    return Verification(checked=len(checker.checked), unsupported=checker.unsupported)
