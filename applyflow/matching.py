"""The match key: one job for the same posting found on several sources.

Two postings are the same job when company, title and location agree after normalising what
boards write differently: case, accents and punctuation; legal suffixes ("Tulpen Data B.V." is
``tulpendata``, as its board name is); seniority words ("Sr." is "Senior", and "Data Engineer,
Senior" is "Senior Data Engineer"); gender markers ("(m/w/d)"); and city forms ("New York, NY",
"NYC", "München, Bavaria" and "Munich" name one city each). Only the first of several locations
counts: boards list a job's main office first.

The key is exact text, so the store finds a match with one indexed lookup.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["company_key", "location_key", "match_key", "title_key"]

# Words a title says its seniority with, in any order or position, abbreviated or not.
_SENIORITY = {
    "sr": "senior", "snr": "senior", "senior": "senior",
    "jr": "junior", "jnr": "junior", "junior": "junior",
    "mid": "mid", "intermediate": "mid", "lead": "lead", "principal": "principal",
    "staff": "staff", "head": "head", "chief": "chief", "entry": "entry", "graduate": "graduate",
    "intern": "intern", "trainee": "trainee",
    "ii": "2", "iii": "3", "iv": "4",
}  # fmt: skip
# Words about the workplace rather than the job ("Senior Engineer (Remote)").
_WORKPLACE_WORDS = frozenset({"remote", "hybrid", "onsite"})
_GENDER = re.compile(
    r"\(\s*(?:all genders?|[mwfdhxn]\s*/\s*[mwfdhxn](?:\s*/\s*[mwfdhxn])?)\s*\)"
    r"|\b[mwfdhxn]/[mwfdhxn](?:/[mwfdhxn])?\b",
    re.IGNORECASE,
)
_LEGAL = frozenset({
    "inc", "incorporated", "llc", "llp", "ltd", "limited", "gmbh", "ag", "bv", "nv", "sa", "sas",
    "sarl", "plc", "corp", "corporation", "co", "company", "oy", "ab", "as", "aps", "srl", "spa",
    "kg", "se", "pty", "pte",
})  # fmt: skip
_REMOTE = frozenset({"remote", "anywhere", "worldwide", "distributed"})
_CITY_NOISE = frozenset({"greater", "area", "metro", "metropolitan", "region", "hq", "office"})
# Local and short names of cities to one spelling (after accents are dropped).
_CITIES = {
    "nyc": "new york", "new york city": "new york", "manhattan": "new york",
    "sf": "san francisco", "san francisco bay": "san francisco", "bay": "san francisco",
    "washington dc": "washington", "washington d c": "washington", "dc": "washington",
    "la": "los angeles", "munchen": "munich", "muenchen": "munich", "koln": "cologne",
    "koeln": "cologne", "wien": "vienna", "lisboa": "lisbon", "praha": "prague",
    "warszawa": "warsaw", "roma": "rome", "milano": "milan",
    "firenze": "florence", "napoli": "naples", "torino": "turin", "bruxelles": "brussels",
    "brussel": "brussels", "den haag": "the hague", "s gravenhage": "the hague",
    "geneve": "geneva", "zuerich": "zurich", "kobenhavn": "copenhagen",
    "goteborg": "gothenburg", "bengaluru": "bangalore", "bombay": "mumbai",
    "ciudad de mexico": "mexico city", "cdmx": "mexico city",
}  # fmt: skip


def _plain(text: str) -> str:
    """Case-folded text without accents; '&' read as 'and'; dots dropped ("B.V." -> "bv")."""
    text = text or ""
    if not text.isascii():  # most text is: skip the per-character pass
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    return text.replace("&", " and ").replace(".", "")


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def company_key(company: str) -> str:
    """The company as one word, legal suffixes dropped: "Nimbus Works, Inc." -> nimbusworks."""
    words = _words(_plain(company))
    while len(words) > 1 and words[-1] in _LEGAL:
        words.pop()
    return "".join(words)


def title_key(title: str) -> str:
    """Title words in order with seniority words canonical and first; gender markers and
    workplace words dropped: "Data Engineer, Sr. (m/w/d)" -> "senior data engineer"."""
    words = _words(_plain(_GENDER.sub(" ", title or "")))
    if words and words[-1] == "i":  # "Engineer I"; a lone "i" elsewhere is left alone
        words[-1] = "1"
    seniority = sorted({_SENIORITY[w] for w in words if w in _SENIORITY})
    rest = [w for w in words if w not in _SENIORITY and w not in _WORKPLACE_WORDS]
    return " ".join(seniority + rest) or " ".join(words)


def location_key(location: str | None) -> str:
    """The first location's city in one spelling, or ``remote``: "Berlin, Germany; Remote"
    -> berlin; "München (HQ)" -> munich; "Remote - Europe" -> remote."""
    first = re.split(r";|\||\n", location or "", maxsplit=1)[0]
    words = _words(_plain(first))
    if not words:
        return ""
    if words[0] in _REMOTE:
        return "remote"
    city = re.split(r",| - | – |\(|/", _plain(first), maxsplit=1)[0]
    name = " ".join(w for w in _words(city) if w not in _CITY_NOISE)
    return _CITIES.get(name, name)


def match_key(company: str, title: str, location: str | None) -> str:
    """``company|title|city``: equal keys are the same job."""
    return f"{company_key(company)}|{title_key(title)}|{location_key(location)}"
