"""Ashby job boards: ``GET {base}/posting-api/job-board/{BOARD}?includeCompensation=true``.

One request returns the whole board with descriptions. Ashby's posting API carries no company
name, so the board name stands for it (as Greenhouse's does when its record has none).
Compensation is kept only where the company shows it on the posting
(``shouldDisplayCompensationOnJobPostings``). The remote policy is ``workplaceType``;
``isRemote`` is true on hybrid jobs too, so it only says "remote" when ``workplaceType`` is
missing, and ``isRemote: false`` never says "onsite".
"""

from __future__ import annotations

from typing import Any

from tasks.ingest.boards import Board, Fetch, Records
from tasks.ingest.postings import join_places

__all__ = ["ASHBY"]

_POLICY = {"Remote": "remote", "Hybrid": "hybrid", "OnSite": "onsite"}
_INTERVALS = {"1 YEAR": "per year", "1 MONTH": "per month", "1 HOUR": "per hour"}


def _amount(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,.0f}" if value >= 1000 else f"{value:g}"
    return ""


def _compensation(job: dict[str, Any]) -> str | None:
    comp = job.get("compensation")
    if job.get("shouldDisplayCompensationOnJobPostings") is not True or not isinstance(comp, dict):
        return None
    for key in ("compensationTierSummary", "scrapeableCompensationSalarySummary"):
        if isinstance(comp.get(key), str) and comp[key].strip():
            return comp[key]
    # The components come in no fixed order: pick the salary by its type.
    for part in comp.get("summaryComponents") or []:
        if isinstance(part, dict) and part.get("compensationType") == "Salary":
            low, high = _amount(part.get("minValue")), _amount(part.get("maxValue"))
            if low or high:
                money = "–".join(x for x in (low, high) if x)
                per = _INTERVALS.get(str(part.get("interval")), "")
                return " ".join(x for x in (part.get("currencyCode") or "", money, per) if x)
    return None


def _policy(job: dict[str, Any]) -> str | None:
    policy = _POLICY.get(str(job.get("workplaceType")))
    if policy is None and job.get("isRemote") is True:
        return "remote"
    return policy


def _record(job: Any, board: str) -> Any:
    if not isinstance(job, dict):
        return job
    url = job.get("jobUrl")
    secondary = [
        s.get("location") for s in job.get("secondaryLocations") or [] if isinstance(s, dict)
    ]
    fallback_id = url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else None
    return {
        "external_id": job.get("id") or fallback_id,
        "title": job.get("title"),
        "company": board,
        "location": join_places([job.get("location"), *secondary]),
        "description": job.get("descriptionHtml") or job.get("descriptionPlain"),
        "url": url,
        "apply_url": job.get("applyUrl") or url,
        "posted_at": job.get("publishedAt"),
        "remote_policy": _policy(job),
        "compensation": _compensation(job),
    }


def _records(fetch: Fetch, board: str) -> Records:
    data = fetch(f"/posting-api/job-board/{board}?includeCompensation=true")
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        raise fetch.error("response has no 'jobs' list")
    # Unlisted postings are hidden from the board page: not an error, just not a job to apply to.
    return (
        (f"jobs[{i}]", _record(job, board))
        for i, job in enumerate(jobs)
        if not (isinstance(job, dict) and job.get("isListed") is False)
    )


ASHBY = Board("ashby", "board", "https://api.ashbyhq.com", _records)
