"""Job-board sources over HTTP: the ``Board`` each public posting API is, the guarded and
retried GET they all use (``Fetch``), and the Greenhouse and Lever boards.

Every request goes through the rate guard (one provider per board kind: ``greenhouse``,
``lever``, ``ashby``...) and transient errors (timeouts, 429, 5xx) are retried with backoff,
honouring ``Retry-After``. ``base_url`` (``--base-url``) replaces a board's scheme and host and
keeps its path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from applyflow.errors import InputError
from applyflow.html import html_to_text, looks_like_html
from applyflow.runtime import current_runtime
from applyflow.settings import Settings
from tasks.ingest.postings import SourceBatch, collect

__all__ = [
    "GREENHOUSE",
    "LEVER",
    "MAX_RESPONSE_BYTES",
    "NOT_FOUND",
    "SLUG",
    "Board",
    "Fetch",
    "Records",
    "read_board",
]

GREENHOUSE_URL = "https://boards-api.greenhouse.io"
LEVER_URL = "https://api.lever.co"
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
NOT_FOUND = "404 not found (check the name)"
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

Records = Iterator[tuple[str, Any]]  # (where, raw record or the error that stands for it)


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", default)))
    except ValueError:
        return default


@dataclass(frozen=True)
class Fetch:
    """GETs on one board's API for one source: through the rate guard, transient errors retried
    with backoff, every failure one line naming the source and the URL."""

    base: str  # scheme, host and any path prefix; request paths are appended
    source: str
    provider: str
    settings: Settings
    client: httpx.Client
    headers: Mapping[str, str] = field(default_factory=dict)
    unauthorized: str = ""  # what a 401 means on this board, said after the status
    attempts: int = 4
    backoff_s: float = 0.5

    def __call__(self, path: str, *, not_found: str = NOT_FOUND) -> Any:
        """The JSON at ``base + path``; ``InputError`` saying ``not_found`` on a 404."""
        from guards.rate import RateGuard

        url, sleep = self.base + path, current_runtime().sleep
        rate = RateGuard(self.settings, sleep=sleep)
        for attempt in range(1, self.attempts + 1):
            rate.acquire(self.provider)
            delay = self.backoff_s * 2 ** (attempt - 1)
            try:
                response = self.client.get(
                    url, headers=dict(self.headers), timeout=self.settings.http_timeout_s
                )
            except httpx.TransportError as exc:
                if attempt == self.attempts:
                    raise self.error(
                        f"GET {url} failed after {self.attempts} tries: {type(exc).__name__}"
                    ) from None
                sleep(delay)
                continue
            if response.status_code in _TRANSIENT and attempt < self.attempts:
                sleep(min(_retry_after(response, delay), self.settings.rate_max_wait_s))
                continue
            return self._json(url, response, not_found)
        raise AssertionError("unreachable")

    def _json(self, url: str, response: httpx.Response, not_found: str) -> Any:
        status = response.status_code
        if status == 404:
            raise self.error(f"GET {url}: {not_found}")
        if status == 401 and self.unauthorized:
            raise self.error(f"GET {url}: 401 unauthorized ({self.unauthorized})")
        if status >= 400:
            raise self.error(f"GET {url}: HTTP {status}")
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise self.error(f"GET {url}: response larger than {MAX_RESPONSE_BYTES // 2**20} MB")
        try:
            return response.json()
        except ValueError:
            raise self.error(f"GET {url}: response is not JSON") from None

    def error(self, reason: str) -> InputError:
        return InputError(self.source, None, reason)


@dataclass(frozen=True)
class Board:
    """A job board's public API: where it lives, what NAME is, and how its records are read."""

    kind: str  # the SOURCE scheme (``greenhouse:NAME``) and the rate guard's provider
    what: str  # what NAME is: the board, the company or the account
    base_url: str  # ``{}`` stands for NAME when the board has a host per company
    records: Callable[[Fetch, str], Records]  # (fetch, NAME) -> (where, record) pairs
    slug: re.Pattern[str] = SLUG  # what a NAME may be...
    slug_says: str = "letters, digits, '-', '_' or '.'"  # ...in words
    headers: Callable[[Settings], dict[str, str]] = lambda settings: {}
    unauthorized: Callable[[Settings], str] = lambda settings: ""  # see ``Fetch``


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
        "apply_url": posting.get("applyUrl"),  # not content: stored jobs do not look changed
        "posted_at": posting.get("createdAt"),
    }


def _greenhouse_records(fetch: Fetch, board: str) -> Records:
    data = fetch(f"/v1/boards/{board}/jobs?content=true")
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        raise fetch.error("response has no 'jobs' list")
    return ((f"jobs[{i}]", _greenhouse_record(job, board)) for i, job in enumerate(jobs))


def _lever_records(fetch: Fetch, company: str) -> Records:
    data = fetch(f"/v0/postings/{company}?mode=json")
    if not isinstance(data, list):
        raise fetch.error("response is not a list of postings")
    return ((f"postings[{i}]", _lever_record(item, company)) for i, item in enumerate(data))


GREENHOUSE = Board("greenhouse", "board", GREENHOUSE_URL, _greenhouse_records)
LEVER = Board("lever", "company", LEVER_URL, _lever_records)


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
    if not board.slug.fullmatch(name):
        raise InputError(source, None, f"{board.what} {name[:50]!r} must be {board.slug_says}")
    base = (base_url or board.base_url.format(name)).rstrip("/")
    fetch = Fetch(
        base,
        source,
        board.kind,
        settings,
        client,
        headers=board.headers(settings),
        unauthorized=board.unauthorized(settings),
    )
    return collect(SourceBatch(source), board.records(fetch, name))
