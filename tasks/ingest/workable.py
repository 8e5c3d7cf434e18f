"""Workable accounts: ``GET {base}/api/v1/widget/accounts/{ACCOUNT}?details=true`` with base
``https://apply.workable.com`` (what the documented ``www.workable.com/api/accounts/...``
redirects to; calling it directly saves the hop and keeps ``--base-url`` meaningful).

One request returns every published job; ``details=true`` adds the descriptions. The widget
says nothing about pay, and only ``telecommuting`` about the remote policy (no hybrid or onsite
signal). A job listed once per city under one shortcode is one job with all its cities.
"""

from __future__ import annotations

from typing import Any

from tasks.ingest.boards import Board, Fetch, Records
from tasks.ingest.postings import join_places, join_sections

__all__ = ["WORKABLE"]


def _place(*parts: Any) -> str:
    return ", ".join(dict.fromkeys(p.strip() for p in parts if isinstance(p, str) and p.strip()))


def _places(job: dict[str, Any]) -> list[str]:
    listed = [
        _place(loc.get("city"), loc.get("region"), loc.get("country"))
        for loc in job.get("locations") or []
        if isinstance(loc, dict) and not loc.get("hidden")
    ]
    return listed or [_place(job.get("city"), job.get("state"), job.get("country"))]


def _record(job: Any, places: list[str], company: str) -> Any:
    if not isinstance(job, dict):
        return job
    url = job.get("url") or job.get("shortlink")
    return {
        "external_id": job.get("shortcode"),
        "title": job.get("title"),
        "company": company,
        "location": join_places(places),
        "description": join_sections(
            [
                (None, job.get("description")),
                ("Requirements", job.get("requirements")),
                ("Benefits", job.get("benefits")),
            ]
        ),
        "url": url,
        "apply_url": job.get("application_url") or url,
        "posted_at": job.get("published_on") or job.get("created_at"),
        "remote_policy": "remote" if job.get("telecommuting") is True else None,
    }


def _records(fetch: Fetch, account: str) -> Records:
    data = fetch(f"/api/v1/widget/accounts/{account}?details=true")
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        raise fetch.error("response has no 'jobs' list")
    name = data.get("name")
    company = name.strip() if isinstance(name, str) and name.strip() else account
    # Entries sharing a shortcode are one job: the first one, with every entry's cities.
    first: dict[str, int] = {}
    places: dict[int, list[str]] = {}
    for i, job in enumerate(jobs):
        code = job.get("shortcode") if isinstance(job, dict) else None
        index = first.setdefault(code, i) if isinstance(code, str) and code else i
        places.setdefault(index, []).extend(_places(job) if isinstance(job, dict) else [])
    return ((f"jobs[{i}]", _record(jobs[i], places[i], company)) for i in sorted(places))


WORKABLE = Board("workable", "account", "https://apply.workable.com", _records)
