"""Domain models: postings, stored jobs, statuses, progress, usage, runs, alerts, stats."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from applyflow.matching import match_key

# Statuses and the ledger's figures live in their own modules; they are part of the domain
# model, so their names are importable from here too.
from applyflow.status import (  # noqa: F401
    APPLICATION_STATUSES,
    FOLLOWUP_STATUSES,
    REQUEUE_ON_CHANGE,
    TRANSITIONS,
    USER_STATUSES,
    Status,
    applied_at_after,
    check_transition,
    parse_status,
)
from applyflow.usage import (  # noqa: F401
    TOKEN_CLASSES,
    ApplicationStats,
    LayerStats,
    SpendBucket,
    SpendGroup,
    TokenClasses,
    UsageTotal,
    WeekCount,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken as UTC (as BSON and SQLite return them)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return re.sub(r"[^\w]+", " ", text).strip()


def fingerprint(
    source: str, external_id: str | None, company: str, title: str, location: str | None
) -> str:
    """Stable job id: source + external id, else normalised company + title + location."""
    if external_id:
        key = f"{_norm(source)}|{external_id.strip()}"
    else:
        key = f"{_norm(company)}|{_norm(title)}|{_norm(location or '')}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class RemotePolicy(StrEnum):
    """Where the work happens, as the posting says."""

    REMOTE = "remote"
    HYBRID = "hybrid"
    ONSITE = "onsite"


# Posting fields added after the first release that the layers read. They join the content
# hash (and a layer's input) only when set, so a posting without them hashes as it always did
# and no stored job looks changed. The apply URL and the posting date are not content: a board
# that moves its apply form or re-publishes a posting does not make the documents stale.
EXTRA_CONTENT = ("remote_policy", "compensation")


def extra_content(posting: JobPosting | Job) -> dict[str, str]:
    """The ``EXTRA_CONTENT`` fields a posting or job has set, as text."""
    values = {name: getattr(posting, name) for name in EXTRA_CONTENT}
    return {name: str(value) for name, value in values.items() if value is not None}


def _utc_or_none(value: datetime | None) -> datetime | None:
    return as_utc(value) if value else None


class JobPosting(BaseModel):
    """A normalised posting, as produced by a source before it is stored."""

    model_config = ConfigDict(str_strip_whitespace=True)

    source: str = Field(min_length=1, max_length=200)
    external_id: str | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=2000)
    title: str = Field(min_length=1, max_length=300)
    company: str = Field(min_length=1, max_length=200)
    location: str | None = Field(None, max_length=300)
    description: str = Field(min_length=1, max_length=200_000)
    posted_at: datetime | None = None
    remote_policy: RemotePolicy | None = None
    compensation: str | None = Field(None, max_length=300)  # as published, e.g. "EUR 68K - 82K"
    apply_url: str | None = Field(None, max_length=2000)

    _utc = field_validator("posted_at")(_utc_or_none)

    @property
    def id(self) -> str:
        return fingerprint(self.source, self.external_id, self.company, self.title, self.location)

    @property
    def match_key(self) -> str:
        """What makes it the same job as a posting on another source (``applyflow.matching``)."""
        return match_key(self.company, self.title, self.location)

    def content_hash(self) -> str:
        """Hash of what the layers read: a change makes an upsert an 'update' (and sends a
        finished job back to the queue). See ``EXTRA_CONTENT`` for the fields added later."""
        parts = [self.url or "", self.title, self.company, self.location or "", self.description]
        parts += [f"{name}={value}" for name, value in extra_content(self).items()]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class Claim(BaseModel):
    """A fact a CV or cover letter states that the profile does not support."""

    kind: str  # employer title dates number degree institution skill name contact
    text: str
    document: str  # cv | cover_letter

    def __str__(self) -> str:
        return f"{self.kind} {self.text!r} ({self.document.replace('_', ' ')})"


class Verification(BaseModel):
    """The claims check of a job's documents: how many facts were checked, which failed."""

    checked: int = 0
    unsupported: list[Claim] = Field(default_factory=list)


class Coverage(BaseModel):
    """The posting's skills and keywords against the CV and the profile."""

    keywords: list[str] = Field(default_factory=list)  # the posting's, most important first
    covered: list[str] = Field(default_factory=list)  # named in the CV
    left_out: list[str] = Field(default_factory=list)  # in the profile, not in the CV
    lacking: list[str] = Field(default_factory=list)  # not in the profile either

    @property
    def percent(self) -> int:
        return round(100 * len(self.covered) / len(self.keywords)) if self.keywords else 100


class ProfileRef(BaseModel):
    """The candidate profile a run used: where it was read and the SHA-256 of its text."""

    path: str
    sha256: str


class LayerOutput(BaseModel):
    """A layer's stored output and what produced it."""

    output: dict[str, Any]
    input_hash: str
    model: str
    cost_usd: float = 0.0
    at: datetime
    profile: ProfileRef | None = None  # None: stored before profiles were recorded


class JobSource(BaseModel):
    """Where a job was found: one posting on one source (a job on two boards has two)."""

    source: str
    posting_id: str  # the posting's fingerprint (``JobPosting.id``)
    external_id: str | None = None
    url: str | None = None
    apply_url: str | None = None
    content_hash: str
    first_seen: datetime
    changed_at: datetime  # when its content last changed (``first_seen`` until it does)

    _utc = field_validator("first_seen", "changed_at")(_utc_or_none)


class StatusChange(BaseModel):
    """One entry of a job's status history (``status == previous``: the status stayed; a note
    or a corrected date)."""

    at: datetime  # when it happened; a backdated mark gives the user's date
    recorded_at: datetime  # when applyflow recorded it
    status: Status
    previous: Status | None = None  # None: the job was just found
    note: str | None = None

    _utc = field_validator("at", "recorded_at")(_utc_or_none)


class Job(BaseModel):
    """A stored job: the posting plus pipeline state.

    The posting fields hold the latest version seen on any of its ``sources``; ``source`` and
    ``external_id`` name where it was found first.
    """

    id: str
    source: str
    external_id: str | None = None
    url: str | None = None
    title: str
    company: str
    location: str | None = None
    description: str
    content_hash: str = ""
    posted_at: datetime | None = None
    remote_policy: RemotePolicy | None = None
    compensation: str | None = None
    apply_url: str | None = None
    match_key: str = ""
    sources: list[JobSource] = Field(default_factory=list)
    history: list[StatusChange] = Field(default_factory=list)
    status_changed_at: datetime | None = None
    ingested_at: datetime
    updated_at: datetime
    status: Status = Status.NEW
    applied_at: datetime | None = None
    outputs: dict[str, LayerOutput] = Field(default_factory=dict)
    fit: int | None = None
    cost_usd: float = 0.0
    error: str | None = None
    claimed_by: str | None = None
    lease_until: datetime | None = None
    run_id: str | None = None

    @property
    def verification(self) -> Verification | None:
        """The claims check of its documents (stored with the generate output), if any."""
        stored = self.outputs.get("generate")
        found = stored.output.get("verification") if stored else None
        return Verification.model_validate(found) if found else None

    @property
    def unsupported_claims(self) -> list[Claim]:
        return self.verification.unsupported if self.verification else []

    @property
    def coverage(self) -> Coverage | None:
        """The keyword coverage of its CV (stored with the publish output), if published."""
        stored = self.outputs.get("publish")
        found = stored.output.get("coverage") if stored else None
        return Coverage.model_validate(found) if found else None

    @property
    def files(self) -> list[str]:
        """The files publish wrote for it (paths), if published."""
        stored = self.outputs.get("publish")
        return [str(f) for f in stored.output.get("files", [])] if stored else []

    @property
    def profile(self) -> ProfileRef | None:
        """The candidate profile of its most recent layer output (its documents, once
        published), if recorded."""
        recorded = [o for o in self.outputs.values() if o.profile is not None]
        return max(recorded, key=lambda o: o.at).profile if recorded else None


class ProgressStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"


class ProgressRecord(BaseModel):
    """One (run, job, layer) row: written by task state hooks while the run goes."""

    run_id: str
    job_id: str
    layer: str
    status: ProgressStatus
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    cost_usd: float = 0.0
    error: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"  # ended early by a wider-scope budget or rate limit
    CRASHED = "crashed"  # its process died: no heartbeat for APPLYFLOW_CLAIM_LEASE_S


class RunWait(BaseModel):
    """What a live run's model calls wait on (a full rate window, an open breaker, a busy
    Prefect slot), since when; cleared when the call goes on."""

    kind: str  # rate | breaker | slot
    since: datetime
    detail: str | None = None  # e.g. "openai 60 requests/minute"


class Run(BaseModel):
    """One pipeline flow run."""

    id: str
    flow_run_id: str | None = None
    flow_run_name: str | None = None  # its Prefect UI name: the run id, as applyflow names it
    started_at: datetime
    ended_at: datetime | None = None
    status: RunStatus = RunStatus.RUNNING
    # Last sign of life of a running run (renewed with its job claims); None: its start.
    heartbeat_at: datetime | None = None
    model: str = "offline"
    # A forecast (``run --dry-run``): it changed no job, output, file, budget or ledger row.
    dry_run: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(default_factory=dict)
    waiting: RunWait | None = None
    # The effective guard settings its workers used (no secrets): guards.health.effective_guards.
    guards: dict[str, Any] = Field(default_factory=dict)
    profile: ProfileRef | None = None  # the candidate profile the run read


class _CallHead(BaseModel):
    call_id: str
    run_id: str | None = None
    job_id: str | None = None
    layer: str | None = None
    provider: str
    model: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


# The token classes come after the totals they are part of (pydantic orders fields from the
# last base to the first, then the class's own).
class UsageRecord(TokenClasses, _CallHead):
    """One settled model call. ``call_id`` is unique: a call is never recorded twice."""

    cost_usd: float = Field(ge=0)
    estimated: bool = False
    fallback: bool = False
    at: datetime = Field(default_factory=utcnow)


class Alert(BaseModel):
    key: str
    kind: str
    level: str = "warning"
    message: str
    at: datetime = Field(default_factory=utcnow)


class BreakerState(BaseModel):
    provider: str
    state: str  # closed | open | half-open
    fail_count: int = 0
    opened_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class ScopeCounters(BaseModel):
    """Spend against one budget scope key (``total``, ``month:2026-11``, ``day:2026-11-28``...)."""

    scope: str
    spent: float = 0.0
    reserved: float = 0.0


class UpsertReport(BaseModel):
    """Postings stored: new jobs, new sources of known jobs, changed (of which requeued)."""

    inserted: int = 0
    linked: int = 0  # another source of a job already stored
    updated: int = 0  # content changed
    requeued: int = 0  # ...and the job went back to the queue
    unchanged: int = 0
    ids: list[str] = Field(default_factory=list)  # the job of each posting, in order
