"""Ingest sources: JSON, JSONL and CSV files, Greenhouse job boards and Lever postings.

Each source gives a ``SourceBatch``: the postings it could normalise and a ``Rejection``
(source, line/row/item, reason) for each record it could not. A source that cannot be read at
all (missing file, HTTP error after retries) raises ``InputError``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from applyflow.errors import InputError
from applyflow.html import html_to_text, looks_like_html
from applyflow.models import JobPosting
from applyflow.settings import Settings

__all__ = [
    "GREENHOUSE_URL",
    "LEVER_URL",
    "MAX_FILE_BYTES",
    "Rejection",
    "SourceBatch",
    "expand_sources",
    "posting_from_record",
    "read_file",
    "read_greenhouse",
    "read_lever",
    "read_source",
]

GREENHOUSE_URL = "https://boards-api.greenhouse.io"
LEVER_URL = "https://api.lever.co"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
FILE_SUFFIXES = (".json", ".jsonl", ".csv")
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A 5 MB description must reach the validator (and be rejected there), not break the reader.
csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))

# Record keys accepted for each posting field, first match wins.
_KEYS = {
    "title": ("title", "job_title", "position", "text", "name"),
    "company": ("company", "company_name", "organization", "employer"),
    "location": ("location", "city", "location_name"),
    "description": (
        "description",
        "descriptionPlain",
        "description_text",
        "content",
        "body",
        "description_html",
    ),
    "url": ("url", "absolute_url", "hostedUrl", "apply_url", "link"),
    "external_id": ("external_id", "id", "job_id", "req_id"),
    "posted_at": ("posted_at", "updated_at", "date_posted", "createdAt", "created_at", "date"),
}


@dataclass(frozen=True)
class Rejection:
    """A record that was skipped: where it was and why."""

    source: str
    where: str | None
    reason: str

    def __str__(self) -> str:
        loc = f"{self.source} {self.where}" if self.where else self.source
        return f"{loc}: {self.reason}"


@dataclass
class SourceBatch:
    """What one source gave: normalised postings and rejected records."""

    source: str
    postings: list[JobPosting] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def _clean(text: str) -> str:
    return _CONTROL.sub("", text).strip()


def _pick(record: dict[str, Any], name: str) -> Any:
    for key in _KEYS[name]:
        value = record.get(key)
        if value not in (None, ""):
            return value
    return None


def _text(record: dict[str, Any], name: str) -> str | None:
    value = _pick(record, name)
    if name == "location" and isinstance(value, dict):
        value = value.get("name")
    if value is None:
        return None
    if name == "external_id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {type(value).__name__}")
    return _clean(value)


def _when(value: Any) -> datetime | None:
    """ISO text, a date, or epoch seconds/milliseconds (Lever's createdAt) -> UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"posted_at: {value!r} is not a valid timestamp") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"posted_at: {value[:40]!r} is not an ISO date") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"posted_at: expected a date, got {type(value).__name__}")


def _errors(exc: ValidationError) -> str:
    """Pydantic errors as 'field: message' without echoing (possibly huge) input values."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()
    )


def posting_from_record(record: Any, source: str) -> JobPosting:
    """Normalise one raw record; ``ValueError`` says what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError(f"expected an object, got {type(record).__name__}")
    fields = {
        name: _text(record, name) for name in ("title", "company", "location", "url", "external_id")
    }
    fields["description"] = _text(record, "description")
    for name in ("title", "company", "location", "description"):
        # Markup is turned into text; in a short field it is never wanted.
        value = fields[name]
        if value and looks_like_html(value):
            fields[name] = html_to_text(value) or None
    missing = [n for n in ("title", "company", "description") if not fields[n]]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    try:
        return JobPosting(source=source, posted_at=_when(_pick(record, "posted_at")), **fields)
    except ValidationError as exc:
        raise ValueError(_errors(exc)) from None


def _decode(raw: bytes, source: str, where: str | None) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            source, where, f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def _records_json(raw: bytes, source: str) -> Iterator[tuple[str, Any]]:
    text = _decode(raw, source, None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    if isinstance(data, dict):
        data = next((data[k] for k in ("jobs", "postings") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise InputError(source, None, 'expected a JSON list of postings (or {"jobs": [...]})')
    for index, item in enumerate(data, start=1):
        yield f"item {index}", item


def _records_jsonl(raw: bytes, source: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(raw.splitlines(), start=1):
        where = f"line {number}"
        if not line.strip():
            continue
        try:
            text = _decode(line, source, where)
            yield where, json.loads(text)
        except InputError as exc:
            yield where, exc
        except json.JSONDecodeError as exc:
            yield where, ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})")


def _records_csv(raw: bytes, source: str) -> Iterator[tuple[str, Any]]:
    # Decode leniently, then reject just the rows that held bad bytes.
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_clean(h) for h in next(reader)]
    except StopIteration:
        raise InputError(source, None, "empty CSV file") from None
    except csv.Error as exc:
        raise InputError(source, "row 1", f"unreadable CSV header: {exc}") from None
    if not any(h in _KEYS["title"] for h in header):
        raise InputError(source, "row 1", f"CSV header has no title column (got {header[:10]})")
    row_number = 1
    while True:
        row_number += 1
        where = f"row {row_number}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield where, ValueError(f"unreadable CSV row: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
            yield where, ValueError("not UTF-8 text")
            continue
        if len(row) > len(header):
            yield where, ValueError(f"{len(row)} fields but the header has {len(header)}")
            continue
        yield where, dict(zip(header, row, strict=False))


_READERS: dict[str, Callable[[bytes, str], Iterator[tuple[str, Any]]]] = {
    ".json": _records_json,
    ".jsonl": _records_jsonl,
    ".csv": _records_csv,
}


def _collect(batch: SourceBatch, records: Iterator[tuple[str | None, Any]]) -> SourceBatch:
    for where, record in records:
        if isinstance(record, InputError):
            batch.rejections.append(Rejection(batch.source, where, record.reason))
            continue
        if isinstance(record, Exception):
            batch.rejections.append(Rejection(batch.source, where, str(record)))
            continue
        try:
            batch.postings.append(posting_from_record(record, batch.source))
        except ValueError as exc:
            batch.rejections.append(Rejection(batch.source, where, str(exc)))
    return batch


def read_file(path: str | Path) -> SourceBatch:
    """Postings from a ``.json`` (a list), ``.jsonl`` or ``.csv`` file."""
    path = Path(path)
    label = f"file:{path.name}"
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            str(path), None, f"unknown file type; use one of {', '.join(FILE_SUFFIXES)}"
        )
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                str(path),
                None,
                f"file is {size // 2**20} MB; the limit is {MAX_FILE_BYTES // 2**20} MB",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read file: {exc.strerror or exc}") from None
    if b"\x00" in raw[:8192] and path.suffix.lower() != ".jsonl":
        raise InputError(str(path), None, "binary data, not JSON or CSV text")
    batch = SourceBatch(label)
    try:
        return _collect(batch, reader(raw, label))
    except InputError as exc:
        raise InputError(str(path), exc.where, exc.reason) from None


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


def read_greenhouse(
    board: str, *, settings: Settings, base_url: str | None = None, client: httpx.Client
) -> SourceBatch:
    """Postings of a Greenhouse job board (``GET /v1/boards/{board}/jobs?content=true``)."""
    source = f"greenhouse:{board}"
    base = (base_url or GREENHOUSE_URL).rstrip("/")
    url = f"{base}/v1/boards/{_slug(board, source, 'board')}/jobs?content=true"
    data = _get_json(url, source=source, provider="greenhouse", settings=settings, client=client)
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list):
        raise InputError(source, None, "response has no 'jobs' list")
    records = ((f"jobs[{i}]", _greenhouse_record(job, board)) for i, job in enumerate(jobs))
    return _collect(SourceBatch(source), records)


def read_lever(
    company: str, *, settings: Settings, base_url: str | None = None, client: httpx.Client
) -> SourceBatch:
    """Postings of a Lever company (``GET /v0/postings/{company}?mode=json``)."""
    source = f"lever:{company}"
    base = (base_url or LEVER_URL).rstrip("/")
    url = f"{base}/v0/postings/{_slug(company, source, 'company')}?mode=json"
    data = _get_json(url, source=source, provider="lever", settings=settings, client=client)
    if not isinstance(data, list):
        raise InputError(source, None, "response is not a list of postings")
    records = ((f"postings[{i}]", _lever_record(item, company)) for i, item in enumerate(data))
    return _collect(SourceBatch(source), records)


def read_source(
    spec: str,
    *,
    settings: Settings,
    base_url: str | None = None,
    client: httpx.Client | None = None,
) -> SourceBatch:
    """Read one SOURCE: a file path, ``greenhouse:BOARD`` or ``lever:COMPANY``."""
    kind, sep, name = spec.partition(":")
    if sep and kind in ("greenhouse", "lever"):
        if not name:
            raise InputError(spec, None, f"expected {kind}:NAME")
        reader = read_greenhouse if kind == "greenhouse" else read_lever
        if client is not None:
            return reader(name, settings=settings, base_url=base_url, client=client)
        with httpx.Client(headers={"User-Agent": "applyflow"}, follow_redirects=True) as own:
            return reader(name, settings=settings, base_url=base_url, client=own)
    return read_file(spec)


def expand_sources(sources: list[str]) -> list[str]:
    """A folder stands for its .json, .jsonl and .csv files (sorted); other sources pass through."""
    out: list[str] = []
    for spec in sources:
        path = Path(spec)
        if ":" not in spec.split("/")[0] and path.is_dir():
            out.extend(str(p) for p in sorted(path.iterdir()) if p.suffix.lower() in FILE_SUFFIXES)
        else:
            out.append(spec)
    return out
