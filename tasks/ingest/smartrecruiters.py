"""SmartRecruiters companies: ``GET {base}/v1/companies/{COMPANY}/postings?limit=100&offset=N``
(paged), then ``GET {base}/v1/companies/{COMPANY}/postings/{id}`` for each posting's text.

The listing carries no description and no URLs, so a board of N postings costs N + 1 requests
(each through the rate guard). A posting whose detail is gone (closed between the two calls) or
unreadable is a rejection of that posting, not of the source.

An unknown company is not a 404 here: the listing answers 200 with ``totalFound: 0``, as for a
company with no openings. So an empty listing asks for the company's departments: a 404 or no
departments at all is reported as an unknown company, departments mean an empty board.
"""

from __future__ import annotations

import re
from typing import Any

from applyflow.errors import InputError
from tasks.ingest.boards import Board, Fetch, Records
from tasks.ingest.postings import join_sections

__all__ = ["MAX_PAGES", "SMARTRECRUITERS"]

PAGE = 100  # the API's largest page
MAX_PAGES = 50  # 5,000 postings: a guard against a listing that never ends
_SECTIONS = ("companyDescription", "jobDescription", "qualifications", "additionalInformation")
_POSTING_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_PAY_FIELD = re.compile(r"salary|compensation|pay", re.IGNORECASE)
_GONE = "404 not found (closed since it was listed?)"


def _unknown(company: str) -> str:
    return (
        f"unknown company {company!r}: SmartRecruiters lists no postings and no departments for "
        "it (the name is the one in jobs.smartrecruiters.com/NAME)"
    )


def _label(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _location(loc: Any) -> str | None:
    if not isinstance(loc, dict):
        return None
    full = _label(loc.get("fullLocation"))
    if full:  # "Lyon, , France" when the region is missing
        return ", ".join(p.strip() for p in full.split(",") if p.strip()) or None
    return ", ".join(p for p in (_label(loc.get(k)) for k in ("city", "region")) if p) or None


def _policy(loc: Any) -> str | None:
    if not isinstance(loc, dict):
        return None
    if loc.get("remote") is True:
        return "remote"
    if loc.get("hybrid") is True:
        return "hybrid"
    if loc.get("remote") is False and loc.get("hybrid") is False:
        return "onsite"
    return None


def _compensation(posting: dict[str, Any]) -> str | None:
    """No documented pay field; some companies publish a salary custom field."""
    for item in posting.get("customField") or []:
        if isinstance(item, dict) and _PAY_FIELD.search(str(item.get("fieldLabel", ""))):
            return _label(item.get("valueLabel"))
    return None


def _record(listed: dict[str, Any], detail: dict[str, Any], company: str) -> dict[str, Any]:
    posting = {**listed, **detail}
    owner = posting.get("company") if isinstance(posting.get("company"), dict) else {}
    ad = detail.get("jobAd") if isinstance(detail.get("jobAd"), dict) else {}
    sections = ad.get("sections") if isinstance(ad.get("sections"), dict) else {}
    parts = [sections.get(key) for key in _SECTIONS]
    url = _label(detail.get("postingUrl")) or (
        f"https://jobs.smartrecruiters.com/{owner.get('identifier') or company}/{posting['id']}"
    )
    return {
        "external_id": posting.get("id"),
        "title": posting.get("name"),
        "company": _label(owner.get("name")) or company,
        "location": _location(posting.get("location")),
        "description": join_sections(
            (p.get("title"), p.get("text")) for p in parts if isinstance(p, dict)
        ),
        "url": url,
        "apply_url": _label(detail.get("applyUrl")) or url,
        "posted_at": posting.get("releasedDate"),
        "remote_policy": _policy(posting.get("location")),
        "compensation": _compensation(posting),
    }


def _listing(fetch: Fetch, company: str) -> list[Any]:
    """Every posting of the listing, page by page, each id once."""
    postings: list[Any] = []
    seen: set[Any] = set()
    offset = 0
    for page in range(1, MAX_PAGES + 1):
        data = fetch(f"/v1/companies/{company}/postings?limit={PAGE}&offset={offset}")
        content = data.get("content") if isinstance(data, dict) else None
        total = data.get("totalFound") if isinstance(data, dict) else None
        if not isinstance(content, list) or not isinstance(total, int):
            raise fetch.error(f"postings page {page}: response has no 'content' list and count")
        for item in content:
            key = item.get("id") if isinstance(item, dict) else None
            if key is None or key not in seen:
                seen.add(key)
                postings.append(item)
        offset += len(content)
        if not content or offset >= total:
            break
    return postings


def _detail(fetch: Fetch, company: str, listed: Any) -> Any:
    """The listed posting with its detail, or the error that stands for it."""
    if not isinstance(listed, dict):
        return listed
    posting_id = str(listed.get("id") or "")
    if not _POSTING_ID.fullmatch(posting_id):
        return ValueError(f"id {posting_id[:40]!r} is not a posting id")
    try:
        detail = fetch(f"/v1/companies/{company}/postings/{posting_id}", not_found=_GONE)
    except InputError as exc:
        return exc
    if not isinstance(detail, dict):
        return ValueError("detail: response is not an object")
    return _record(listed, detail, company)


def _records(fetch: Fetch, company: str) -> Records:
    postings = _listing(fetch, company)
    if not postings:
        data = fetch(f"/v1/companies/{company}/departments", not_found=_unknown(company))
        if not (isinstance(data, dict) and data.get("content")):
            raise fetch.error(_unknown(company))
    for i, listed in enumerate(postings):
        yield f"postings[{i}]", _detail(fetch, company, listed)


SMARTRECRUITERS = Board("smartrecruiters", "company", "https://api.smartrecruiters.com", _records)
