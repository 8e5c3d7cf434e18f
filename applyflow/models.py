"""Domain models: postings, stored jobs, statuses, progress, usage, runs, alerts, stats."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from applyflow.errors import InvalidTransition
from applyflow.matching import match_key


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken as UTC (as BSON and SQLite return them)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Status(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    READY = "ready"
    APPLIED = "applied"
    INTERVIEW = "interview"
    OFFER = "offer"
    REJECTED = "rejected"
    DISCARDED = "discarded"
    FAILED = "failed"
    OVER_BUDGET = "over_budget"
    SKIPPED = "skipped"  # its fit was below the minimum: no documents were generated
    NEEDS_REVIEW = "needs_review"  # its documents make claims the profile does not support


# Statuses a user sets by hand (CLI `mark`, dashboard buttons).
USER_STATUSES = (
    Status.APPLIED,
    Status.INTERVIEW,
    Status.OFFER,
    Status.REJECTED,
    Status.DISCARDED,
)
# After these the application went out, so `applied_at` is kept.
APPLICATION_STATUSES = frozenset({Status.APPLIED, Status.INTERVIEW, Status.OFFER, Status.REJECTED})
# A changed posting sends these back to the queue: their documents describe the old posting.
# (An applied-or-later job keeps its status; new, discarded and over_budget ones keep theirs.)
REQUEUE_ON_CHANGE = frozenset(
    {Status.PROCESSING, Status.READY, Status.SKIPPED, Status.FAILED, Status.NEEDS_REVIEW}
)
# Applications still waiting for the other side: the ones to follow up when nothing changes.
FOLLOWUP_STATUSES = (Status.APPLIED, Status.INTERVIEW)

_ANY_USER = set(USER_STATUSES)
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.PROCESSING, Status.DISCARDED, Status.APPLIED}),
    Status.PROCESSING: frozenset(
        {
            Status.NEW,
            Status.READY,
            Status.FAILED,
            Status.OVER_BUDGET,
            Status.SKIPPED,
            Status.NEEDS_REVIEW,
            Status.DISCARDED,
        }
    ),
    Status.READY: frozenset(_ANY_USER | {Status.NEW}),
    Status.APPLIED: frozenset(
        {Status.INTERVIEW, Status.OFFER, Status.REJECTED, Status.DISCARDED, Status.READY}
    ),
    Status.INTERVIEW: frozenset({Status.OFFER, Status.REJECTED, Status.DISCARDED, Status.APPLIED}),
    Status.OFFER: frozenset({Status.REJECTED, Status.DISCARDED, Status.INTERVIEW}),
    Status.REJECTED: frozenset({Status.DISCARDED, Status.APPLIED, Status.INTERVIEW}),
    Status.DISCARDED: frozenset({Status.NEW, Status.READY}),
    Status.FAILED: frozenset({Status.NEW, Status.PROCESSING, Status.DISCARDED}),
    Status.OVER_BUDGET: frozenset({Status.NEW, Status.PROCESSING, Status.DISCARDED}),
    # A user may still apply to a skipped job, or send reviewed documents (or approve them).
    Status.SKIPPED: frozenset(_ANY_USER | {Status.NEW, Status.PROCESSING}),
    Status.NEEDS_REVIEW: frozenset(_ANY_USER | {Status.READY, Status.NEW, Status.PROCESSING}),
}


def parse_status(value: str) -> Status:
    """``Status`` from user text, or ``ValueError`` listing the valid choices."""
    try:
        return Status(value.strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise ValueError(f"unknown status {value!r}; valid statuses: {choices}") from None


def check_transition(job_id: str, current: Status | str, target: Status | str) -> None:
    """Raise ``InvalidTransition`` unless ``current -> target`` is allowed (same -> same is)."""
    current, target = Status(current), Status(target)
    if current == target:
        return
    allowed = TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition(
            job_id, current.value, target.value, sorted(s.value for s in allowed)
        )


def applied_at_after(
    current: Status,
    target: Status,
    applied_at: datetime | None,
    now: datetime,
    *,
    backdated: bool = False,
) -> datetime | None:
    """The ``applied_at`` a job has after ``current -> target`` at time ``now``.

    Marking ``applied`` stamps ``now`` (unless already stamped; a ``backdated`` mark replaces
    the stamp with its date); moving on to interview/offer/rejected keeps the stamp; any other
    status clears it.
    """
    if target == Status.APPLIED:
        return now if backdated else (applied_at or now)
    if target in APPLICATION_STATUSES:
        return applied_at if applied_at is not None else now
    return None


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


class TokenClasses(BaseModel):
    """The parts of a call's tokens a provider bills at their own price, as it reports them
    (genai-prices' usage keys). Each is inside ``input_tokens`` or ``output_tokens``, never on
    top: ``cache_write_tokens`` counts every cache write, the 1-hour ones included."""

    cache_read_tokens: int = Field(0, ge=0)
    cache_write_tokens: int = Field(0, ge=0)
    cache_write_1h_tokens: int = Field(0, ge=0)
    input_audio_tokens: int = Field(0, ge=0)
    output_reasoning_tokens: int = Field(0, ge=0)
    output_audio_tokens: int = Field(0, ge=0)


TOKEN_CLASSES: tuple[str, ...] = tuple(TokenClasses.model_fields)


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


class ApplicationStats(BaseModel):
    """Applications sent (jobs with ``applied_at``): today, last 7 days, last 30 days, total."""

    today: int
    week: int
    month: int
    total: int


class WeekCount(BaseModel):
    week_start: datetime  # local Monday 00:00 in the configured zone, as UTC
    count: int


class SpendBucket(BaseModel):
    start: datetime  # bucket start (UTC)
    cost_usd: float
    calls: int


class _GroupHead(BaseModel):
    key: str | None
    calls: int
    input_tokens: int
    output_tokens: int


class SpendGroup(TokenClasses, _GroupHead):
    cost_usd: float


class _TotalHead(BaseModel):
    provider: str
    model: str
    layer: str | None
    calls: int
    input_tokens: int
    output_tokens: int


class UsageTotal(TokenClasses, _TotalHead):
    """Every call recorded for one (provider, model, layer) since the ledger began."""

    cost_usd: float


class LayerStats(BaseModel):
    """One layer over every run, from the progress rows: durations of the layer runs that
    completed (per bucket of ``store.runs.LAYER_DURATION_BUCKETS``, the last one above them
    all; not cumulative) and how many failed."""

    layer: str
    buckets: list[int]
    seconds: float  # total duration of the completed runs
    failures: int

    @property
    def completed(self) -> int:
        return sum(self.buckets)


class UpsertReport(BaseModel):
    """Postings stored: new jobs, new sources of known jobs, changed (of which requeued)."""

    inserted: int = 0
    linked: int = 0  # another source of a job already stored
    updated: int = 0  # content changed
    requeued: int = 0  # ...and the job went back to the queue
    unchanged: int = 0
    ids: list[str] = Field(default_factory=list)  # the job of each posting, in order
