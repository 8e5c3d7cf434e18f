"""Raw records to ``JobPosting``: field aliases, markup to text, reasons for every rejection.

Every source (files and every job board) goes through ``posting_from_record`` and ``collect``,
so a bad record is described the same way wherever it came from: source, line/row/item, reason.
``join_places`` and ``join_sections`` are how boards put several locations or description
sections into one field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from applyflow.errors import InputError
from applyflow.html import html_to_text, looks_like_html
from applyflow.models import JobPosting, RemotePolicy

__all__ = [
    "TITLE_KEYS",
    "Rejection",
    "SourceBatch",
    "clean_text",
    "collect",
    "join_places",
    "join_sections",
    "posting_from_record",
]

# Control characters, plus bidi overrides/isolates and stray BOMs: these can make a title
# display as something else in a terminal or the dashboard ("Trojan Source" spoofing).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069\ufeff]")
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
    "remote_policy": ("remote_policy", "workplace_type", "workplace"),
    "compensation": ("compensation", "salary", "pay"),
    "apply_url": ("apply_url", "application_url", "applyUrl"),
}
# How a record may say its remote policy.
_POLICIES = {
    "remote": RemotePolicy.REMOTE, "fully remote": RemotePolicy.REMOTE,
    "hybrid": RemotePolicy.HYBRID,
    "onsite": RemotePolicy.ONSITE, "on-site": RemotePolicy.ONSITE, "on site": RemotePolicy.ONSITE,
    "office": RemotePolicy.ONSITE, "in office": RemotePolicy.ONSITE,
}  # fmt: skip
PLACES_SHOWN = 5  # locations named in full; the rest are counted


TITLE_KEYS = _KEYS["title"]


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


def clean_text(text: str) -> str:
    """Text without control characters, stripped."""
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
    return clean_text(value)


def _policy(record: dict[str, Any]) -> RemotePolicy | None:
    value = _pick(record, "remote_policy")
    if value is None:
        return None
    policy = _POLICIES.get(value.strip().casefold()) if isinstance(value, str) else None
    if policy is None:
        raise ValueError(f"remote_policy: {str(value)[:40]!r} is not remote, hybrid or onsite")
    return policy


def join_places(places: Iterable[Any]) -> str | None:
    """Distinct places (non-empty text) joined with "; ", the first few named and the rest
    counted."""
    distinct = list(dict.fromkeys(p.strip() for p in places if isinstance(p, str) and p.strip()))
    if len(distinct) > PLACES_SHOWN:
        distinct = [*distinct[:PLACES_SHOWN], f"+{len(distinct) - PLACES_SHOWN} more"]
    return "; ".join(distinct) or None


def join_sections(sections: Iterable[tuple[str | None, Any]]) -> str:
    """Description sections (heading, HTML or text) as text, "Heading:" before each body; empty
    and non-text bodies are left out."""
    blocks = []
    for heading, body in sections:
        text = html_to_text(body).strip() if isinstance(body, str) else ""
        if text:
            blocks.append(f"{heading}:\n\n{text}" if heading else text)
    return "\n\n".join(blocks)


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
        name: _text(record, name)
        for name in ("title", "company", "location", "url", "external_id", "compensation")
    }
    fields["apply_url"] = _text(record, "apply_url")
    fields["description"] = _text(record, "description")
    for name in ("title", "company", "location", "description", "compensation"):
        # Markup is turned into text; in a short field it is never wanted.
        value = fields[name]
        if value and looks_like_html(value):
            fields[name] = clean_text(html_to_text(value)) or None
    missing = [n for n in ("title", "company", "description") if not fields[n]]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    try:
        return JobPosting(
            source=source,
            posted_at=_when(_pick(record, "posted_at")),
            remote_policy=_policy(record),
            **fields,
        )
    except ValidationError as exc:
        raise ValueError(_errors(exc)) from None


def collect(batch: SourceBatch, records: Iterable[tuple[str | None, Any]]) -> SourceBatch:
    """Normalise each (where, record) into ``batch``; errors become rejections."""
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
