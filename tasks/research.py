"""Layer 2, research: company summary and signals from the posting (and, if allowed, its site).

With ``APPLYFLOW_RESEARCH_FETCH=true`` the company's web page is fetched through the rate guard
(provider ``web``) and given to the model as extra input. Off by default: the posting alone is
used. Only public http(s) hosts are fetched, never loopback or private addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from applyflow.html import html_to_text
from applyflow.models import Job
from tasks.layers import Layer, layer_task, posting_data, run_layer, upstream
from tasks.progress import LayerResult
from tasks.retries import LAYER_RETRIES
from tasks.run import RunContext, get_run

__all__ = ["RESEARCH", "ResearchOutput", "company_url", "fetch_company_page", "research"]

PAGE_CHARS = 6000
PAGE_BYTES = 2 * 1024 * 1024
# Hosts that serve job boards, not a company's own site.
_BOARD_HOSTS = re.compile(
    r"(^|\.)(greenhouse\.io|lever\.co|workable\.com|linkedin\.com|indeed\.com|smartrecruiters\.com"
    r"|ashbyhq\.com|personio\.\w+|recruitee\.com|teamtailor\.com)$"
)


class ResearchOutput(BaseModel):
    """What the posting (and the company's page) says about the company."""

    model_config = ConfigDict(extra="ignore", title="ResearchOutput")

    company: str = Field(min_length=1, max_length=200)
    summary: str = Field(min_length=1, max_length=2000)
    industry: str | None = Field(None, max_length=100)
    signals: list[str] = Field(default_factory=list, max_length=20)
    sources: list[str] = Field(default_factory=list, max_length=10)


def company_url(job: Job) -> str | None:
    """The company's own site: a link in the posting, else the posting URL's site."""
    candidates = re.findall(r"https?://[^\s)<>\"']+", job.description)
    if job.url:
        parts = urlsplit(job.url)
        candidates.append(f"{parts.scheme}://{parts.netloc}/")
    for url in candidates:
        host = (urlsplit(url).hostname or "").lower()
        if host and not _BOARD_HOSTS.search(host):
            return url.rstrip(".,;")
    return None


def _public(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(ipaddress.ip_address(info[4][0]).is_global for info in infos)


def fetch_company_page(url: str, ctx: RunContext) -> tuple[str | None, str]:
    """(page text, note for ``sources``); a failed fetch is a note, never a layer failure."""
    from guards.rate import RateGuard

    host = urlsplit(url).hostname or ""
    allowed = ctx.runtime.allow_private_hosts or _public(host)
    if urlsplit(url).scheme not in ("http", "https") or not allowed:
        return None, f"company page {url} not fetched: not a public http(s) address"
    RateGuard(ctx.settings).acquire("web")
    try:
        response = httpx.get(url, timeout=ctx.settings.http_timeout_s, follow_redirects=False)
    except httpx.HTTPError as exc:
        return None, f"company page {url} not fetched: {type(exc).__name__}"
    if response.status_code != 200 or len(response.content) > PAGE_BYTES:
        return None, f"company page {url} not fetched: HTTP {response.status_code}"
    return html_to_text(response.text)[:PAGE_CHARS], f"company page {url}"


def _input(job: Job, ctx: RunContext) -> dict[str, Any]:
    extracted = upstream(job, "extract", "research")
    data: dict[str, Any] = {"posting": posting_data(job), "extract": extracted}
    if ctx.settings.research_fetch:
        # The URL (not the page) is hashed, so a cached layer never refetches.
        data["company_url"] = company_url(job)
    return data


def _page(job: Job, ctx: RunContext) -> dict[str, Any]:
    url = company_url(job) if ctx.settings.research_fetch else None
    if not url:
        return {}
    text, note = fetch_company_page(url, ctx)
    return {"company_page": text, "company_page_note": note}


RESEARCH = Layer(
    name="research",
    schema=ResearchOutput,
    instructions="""
Summarise what the input says about the hiring company: what it does, its size, stage,
industry, ways of working and benefits. Use only the posting and, when present, the
company_page text. Do not add facts from memory.
- summary: two or three sentences.
- signals: short factual notes ("funding: Series B", "benefit: equity", "work style: remote-first").
- sources: "posting", plus the company page when it was used.
""",
    max_tokens=800,
    version="1",
    build_input=_input,
    extra_input=_page,
)


@layer_task("research", retry=LAYER_RETRIES)
def research(run_id: str, job_id: str) -> LayerResult:
    """Summarise the company and its signals."""
    return run_layer(RESEARCH, get_run(run_id), job_id)
