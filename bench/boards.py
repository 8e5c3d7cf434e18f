"""One job board of each kind on loopback, for the ingest benchmark: the same synthetic postings
(``bench.postings``) in each API's response shape, served at the path that API serves them.

``serve_boards(n)`` serves ``n`` postings per board under the NAME ``bench`` (one base URL for
all six, as ``--base-url`` gives one); ``BOARD_SOURCES`` are the SOURCE strings that read them.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.postings import posting_records

__all__ = ["BOARD_SOURCES", "requests_per_board", "serve_boards"]

NAME = "bench"
BOARD_SOURCES = [f"{kind}:{NAME}" for kind in (
    "greenhouse", "lever", "ashby", "smartrecruiters", "recruitee", "workable",
)]  # fmt: skip
SR_PAGE = 100
_POLICIES = ("Remote", "Hybrid", "OnSite")


def _html(text: str) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())


def _greenhouse(records: list[dict[str, Any]]) -> Any:
    return {"jobs": [{
        "id": 1000 + i, "title": r["title"], "company_name": r["company"],
        "absolute_url": r["url"], "location": {"name": r["location"]},
        "updated_at": r["posted_at"], "content": html.escape(_html(r["description"])),
    } for i, r in enumerate(records)]}  # fmt: skip


def _lever(records: list[dict[str, Any]]) -> Any:
    return [{
        "id": r["external_id"], "text": r["title"], "categories": {"location": r["location"]},
        "descriptionPlain": r["description"], "hostedUrl": r["url"], "createdAt": 1767225600000,
    } for r in records]  # fmt: skip


def _ashby(records: list[dict[str, Any]]) -> Any:
    return {"apiVersion": "1", "jobs": [{
        "id": r["external_id"], "title": r["title"], "location": r["location"],
        "secondaryLocations": [], "publishedAt": r["posted_at"], "isListed": True,
        "workplaceType": _POLICIES[i % 3], "jobUrl": r["url"], "applyUrl": r["url"] + "/apply",
        "descriptionHtml": _html(r["description"]), "descriptionPlain": r["description"],
        "shouldDisplayCompensationOnJobPostings": True,
        "compensation": {"compensationTierSummary": "€60K – €80K"},
    } for i, r in enumerate(records)]}  # fmt: skip


def _smartrecruiters(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Path -> body: the listing's pages and one detail per posting."""
    postings = [{
        "id": str(744000000000000 + i), "name": r["title"], "releasedDate": r["posted_at"],
        "company": {"identifier": NAME, "name": r["company"]},
        "location": {"city": r["location"], "fullLocation": r["location"],
                     "remote": i % 3 == 0, "hybrid": i % 3 == 1},
    } for i, r in enumerate(records)]  # fmt: skip
    base = f"/v1/companies/{NAME}/postings"
    routes: dict[str, Any] = {}
    for offset in range(0, max(len(postings), 1), SR_PAGE):
        page = postings[offset : offset + SR_PAGE]
        routes[f"{base}?limit={SR_PAGE}&offset={offset}"] = {
            "offset": offset, "limit": SR_PAGE, "totalFound": len(postings), "content": page,
        }  # fmt: skip
    for posting, record in zip(postings, records, strict=True):
        routes[f"{base}/{posting['id']}"] = {**posting, "jobAd": {"sections": {
            "jobDescription": {"title": "Job Description", "text": _html(record["description"])},
        }}, "postingUrl": record["url"], "applyUrl": record["url"] + "?oga=true"}  # fmt: skip
    return routes


def _recruitee(records: list[dict[str, Any]]) -> Any:
    return {"offers": [{
        "id": 2980000 + i, "title": r["title"], "status": "published",
        "company_name": r["company"], "careers_url": r["url"],
        "careers_apply_url": r["url"] + "/c/new", "description": _html(r["description"]),
        "requirements": "<ul><li>Right to work in the EU</li></ul>", "location": r["location"],
        "remote": i % 3 == 0, "hybrid": i % 3 == 1, "on_site": i % 3 == 2,
        "salary": {"min": "4000", "max": "5500", "period": "month", "currency": "EUR"},
        "published_at": r["posted_at"].replace("T", " ").replace("Z", " UTC"),
    } for i, r in enumerate(records)]}  # fmt: skip


def _workable(records: list[dict[str, Any]]) -> Any:
    return {"name": "Bench Works", "jobs": [{
        "title": r["title"], "shortcode": f"{i:010X}", "url": r["url"],
        "application_url": r["url"] + "/apply", "published_on": r["posted_at"][:10],
        "city": r["location"], "country": "Germany", "telecommuting": i % 3 == 0,
        "locations": [{"city": r["location"], "country": "Germany", "countryCode": "DE"}],
        "description": _html(r["description"]),
    } for i, r in enumerate(records)]}  # fmt: skip


def _routes(n: int) -> dict[str, bytes]:
    # Each board its own postings (its own seed), as six companies' boards would be.
    def records(seed: int) -> list[dict[str, Any]]:
        return posting_records(n, seed=seed)

    bodies: dict[str, Any] = {
        f"/v1/boards/{NAME}/jobs?content=true": _greenhouse(records(11)),
        f"/v0/postings/{NAME}?mode=json": _lever(records(12)),
        f"/posting-api/job-board/{NAME}?includeCompensation=true": _ashby(records(13)),
        **_smartrecruiters(records(14)),
        "/api/offers/": _recruitee(records(15)),
        f"/api/v1/widget/accounts/{NAME}?details=true": _workable(records(16)),
    }
    return {path: json.dumps(body).encode() for path, body in bodies.items()}


def requests_per_board(n: int) -> dict[str, int]:
    """HTTP requests each SOURCE takes for ``n`` postings."""
    pages = max(1, -(-n // SR_PAGE))
    return {s: (pages + n if s.startswith("smartrecruiters") else 1) for s in BOARD_SOURCES}


@contextmanager
def serve_boards(n: int) -> Iterator[str]:
    """Serve the six boards with ``n`` postings each on a free loopback port; its base URL."""
    routes = _routes(n)

    class Boards(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the boards' own servers do
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
        # until the client's delayed ACK (~40 ms per request on Linux), which no real API adds.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = routes.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Boards)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
