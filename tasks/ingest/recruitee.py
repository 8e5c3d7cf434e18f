"""Recruitee companies: ``GET {base}/api/offers/`` with base ``https://{COMPANY}.recruitee.com``.

One request returns every published offer with its description and requirements (HTML). The
company lives in the host, so COMPANY must be a DNS label, and with ``--base-url`` the base
names one company. From 10 February 2027 Recruitee wants a Careers Site token in
``X-Careers-Sites-Token`` (``APPLYFLOW_RECRUITEE_TOKEN``, sent when set, never logged); a 401
says so. Dates come as ``2023-07-25 17:53:46 UTC``.
"""

from __future__ import annotations

import re
from typing import Any

from applyflow.settings import Settings, env_name
from tasks.ingest.boards import Board, Fetch, Records
from tasks.ingest.postings import join_places, join_sections

__all__ = ["RECRUITEE", "iso_utc"]

TOKEN_HEADER = "X-Careers-Sites-Token"
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_UTC_SUFFIX = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC$")


def iso_utc(value: Any) -> Any:
    """``2023-07-25 17:53:46 UTC`` as ISO 8601; anything else unchanged (checked later)."""
    if isinstance(value, str) and (found := _UTC_SUFFIX.match(value.strip())):
        return f"{found[1]}T{found[2]}+00:00"
    return value


def _number(value: Any) -> str | None:
    """Salary bounds come as text ("4800", "18.50") or numbers, mixed in one object."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return None
    return f"{amount:,.0f}" if amount >= 1000 else f"{amount:g}"


def _compensation(salary: Any) -> str | None:
    if not isinstance(salary, dict):
        return None
    low, high = _number(salary.get("min")), _number(salary.get("max"))
    if not (low or high):
        return None
    money = "–".join(x for x in (low, high) if x)
    currency = str(salary.get("currency") or "").upper()
    period = f"per {salary['period']}" if isinstance(salary.get("period"), str) else ""
    return " ".join(x for x in (currency, money, period) if x)


def _policy(offer: dict[str, Any]) -> str | None:
    for key, policy in (("remote", "remote"), ("hybrid", "hybrid"), ("on_site", "onsite")):
        if offer.get(key) is True:
            return policy
    return None


def _location(offer: dict[str, Any]) -> str | None:
    main = offer.get("location")
    if not isinstance(main, str) or not main.strip() or main.strip() == "Remote job":
        parts = [offer.get(k) for k in ("city", "state_name", "country")]
        main = ", ".join(
            dict.fromkeys(p.strip() for p in parts if isinstance(p, str) and p.strip())
        )
    offices = [o.get("city") for o in offer.get("locations") or [] if isinstance(o, dict)]
    # The main location names the first office's city already.
    return join_places([main, *offices[1:]])


def _title(offer: dict[str, Any]) -> Any:
    if offer.get("title"):
        return offer["title"]
    translations = offer.get("translations")
    for text in translations.values() if isinstance(translations, dict) else ():
        if isinstance(text, dict) and text.get("title"):
            return text["title"]
    return None


def _record(offer: Any, company: str) -> Any:
    if not isinstance(offer, dict):
        return offer
    return {
        "external_id": offer.get("id"),
        "title": _title(offer),
        "company": offer.get("company_name") or company,
        "location": _location(offer),
        "description": join_sections(
            [(None, offer.get("description")), ("Requirements", offer.get("requirements"))]
        ),
        "url": offer.get("careers_url"),
        "apply_url": offer.get("careers_apply_url") or offer.get("careers_url"),
        "posted_at": iso_utc(offer.get("published_at") or offer.get("created_at")),
        "remote_policy": _policy(offer),
        "compensation": _compensation(offer.get("salary")),
    }


def _records(fetch: Fetch, company: str) -> Records:
    data = fetch("/api/offers/")
    offers = data.get("offers") if isinstance(data, dict) else None
    if not isinstance(offers, list):
        raise fetch.error("response has no 'offers' list")
    return (
        (f"offers[{i}]", _record(offer, company))
        for i, offer in enumerate(offers)
        if not (isinstance(offer, dict) and offer.get("status") not in (None, "published"))
    )


def _headers(settings: Settings) -> dict[str, str]:
    token = settings.recruitee_token
    return {TOKEN_HEADER: token.get_secret_value()} if token else {}


def _unauthorized(settings: Settings) -> str:
    if settings.recruitee_token:
        return f"Recruitee refused {env_name('recruitee_token')}: check the company's token"
    return (
        "Recruitee requires a Careers Site token since 10 Feb 2027: "
        f"set {env_name('recruitee_token')}"
    )


RECRUITEE = Board(
    "recruitee",
    "company",
    "https://{}.recruitee.com",
    _records,
    slug=_DNS_LABEL,
    slug_says="letters, digits and '-' (it names a host)",
    headers=_headers,
    unauthorized=_unauthorized,
)
