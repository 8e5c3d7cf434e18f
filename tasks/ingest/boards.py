"""Job-board sources over HTTP: Greenhouse boards and Lever postings.

Every request goes through the rate guard (providers ``greenhouse`` and ``lever``) and transient
errors (timeouts, 429, 5xx) are retried with backoff, honouring ``Retry-After``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from applyflow.errors import InputError
from applyflow.html import html_to_text, looks_like_html
from applyflow.settings import Settings
from tasks.ingest.postings import SourceBatch, collect

__all__ = ["BOARDS", "GREENHOUSE", "LEVER", "MAX_RESPONSE_BYTES", "Board", "read_board"]

GREENHOUSE_URL = "https://boards-api.greenhouse.io"
LEVER_URL = "https://api.lever.co"
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def _slug(value: str, source: str, what: str) -> str:
    if not _SLUG.fullmatch(value):
        raise InputError(
            source, None, f"{what} {value[:50]!r} must be letters, digits, '-', '_' or '.'"
        )
    return value


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", default)))
    except ValueError:
        return default


def _get_json(
    url: str,
    *,
    source: str,
    provider: str,
    settings: Settings,
    client: httpx.Client,
    attempts: int = 4,
    backoff_s: float = 0.5,
) -> Any:
    """GET ``url`` through the rate guard; transient errors are retried with backoff."""
    from guards.rate import RateGuard

    rate = RateGuard(settings)
    for attempt in range(1, attempts + 1):
        rate.acquire(provider)
        delay = backoff_s * 2 ** (attempt - 1)
        try:
            response = client.get(url, timeout=settings.http_timeout_s)
        except httpx.TransportError as exc:
            if attempt == attempts:
                raise InputError(
                    source, None, f"GET {url} failed after {attempts} tries: {type(exc).__name__}"
                ) from None
            time.sleep(delay)
            continue
        if response.status_code in _TRANSIENT and attempt < attempts:
            time.sleep(min(_retry_after(response, delay), settings.rate_max_wait_s))
            continue
        if response.status_code == 404:
            raise InputError(source, None, f"GET {url}: 404 not found (check the name)")
        if response.status_code >= 400:
            raise InputError(source, None, f"GET {url}: HTTP {response.status_code}")
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise InputError(
                source, None, f"GET {url}: response larger than {MAX_RESPONSE_BYTES // 2**20} MB"
            )
        try:
            return response.json()
        except ValueError:
            raise InputError(source, None, f"GET {url}: response is not JSON") from None
    raise AssertionError("unreachable")


def _greenhouse_record(job: Any, board: str) -> Any:
    if not isinstance(job, dict):
        return job
    return {
        "external_id": job.get("id"),
        "title": job.get("title"),
        "company": job.get("company_name") or board,
        "location": job.get("location"),
        "description": job.get("content"),
        "url": job.get("absolute_url"),
        "posted_at": job.get("updated_at") or job.get("first_published"),
    }


def _lever_record(posting: Any, company: str) -> Any:
    if not isinstance(posting, dict):
        return posting
    parts = [posting.get("descriptionPlain") or posting.get("description")]
    for item in posting.get("lists") or []:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            content = item.get("content")
            body = html_to_text(content) if isinstance(content, str) else ""
            parts.append(f"{item['text']}:\n{body}")
    parts.append(posting.get("additionalPlain"))
    text_parts = [
        p if not looks_like_html(p) else html_to_text(p)
        for p in parts
        if isinstance(p, str) and p.strip()
    ]
    categories = posting.get("categories") if isinstance(posting.get("categories"), dict) else {}
    return {
        "external_id": posting.get("id"),
        "title": posting.get("text"),
        "company": company,
        "location": categories.get("location"),
        "description": "\n\n".join(text_parts),
        "url": posting.get("hostedUrl"),
        "posted_at": posting.get("createdAt"),
    }


def _greenhouse_records(data: Any, board: str, source: str) -> Iterator[tuple[str, Any]]:
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        raise InputError(source, None, "response has no 'jobs' list")
    return ((f"jobs[{i}]", _greenhouse_record(job, board)) for i, job in enumerate(jobs))


def _lever_records(data: Any, company: str, source: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(data, list):
        raise InputError(source, None, "response is not a list of postings")
    return ((f"postings[{i}]", _lever_record(item, company)) for i, item in enumerate(data))


@dataclass(frozen=True)
class Board:
    """A job board's public API: where its postings are and how its records read."""

    kind: str  # the SOURCE scheme (``greenhouse:NAME``) and the rate guard's provider
    what: str  # what NAME is: the board or the company
    path: str  # GET path, ``{}`` standing for NAME
    base_url: str
    records: Callable[[Any, str, str], Iterator[tuple[str, Any]]]  # (JSON, NAME, source)


GREENHOUSE = Board(
    "greenhouse", "board", "/v1/boards/{}/jobs?content=true", GREENHOUSE_URL, _greenhouse_records
)
LEVER = Board("lever", "company", "/v0/postings/{}?mode=json", LEVER_URL, _lever_records)
BOARDS = {board.kind: board for board in (GREENHOUSE, LEVER)}


def read_board(
    board: Board,
    name: str,
    *,
    settings: Settings,
    base_url: str | None = None,
    client: httpx.Client,
) -> SourceBatch:
    """Postings of ``name`` on ``board`` (``base_url`` replaces the board's API address)."""
    source = f"{board.kind}:{name}"
    url = (base_url or board.base_url).rstrip("/") + board.path.format(
        _slug(name, source, board.what)
    )
    data = _get_json(url, source=source, provider=board.kind, settings=settings, client=client)
    return collect(SourceBatch(source), board.records(data, name, source))
