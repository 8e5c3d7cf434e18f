"""Ashby, SmartRecruiters, Recruitee and Workable from recorded fixtures served on loopback:
every mapped field, paging, HTML, missing fields, unknown boards, 429 + Retry-After, bad bodies.

The fixtures (tests/data/boards) are in each API's documented response shape; see their notes
in docs/architecture.md (Ingest).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from applyflow.errors import InputError
from applyflow.models import RemotePolicy
from applyflow.runtime import Runtime, use_runtime
from applyflow.settings import Settings, load_settings
from tasks.ingest import SourceBatch, read_source
from tasks.ingest.recruitee import TOKEN_HEADER
from tests.loopback import Handler, serve

DATA = Path(__file__).resolve().parents[1] / "data" / "boards"
KINDS = ("greenhouse", "lever", "ashby", "smartrecruiters", "recruitee", "workable")
SR = "/v1/companies/HarborlightFoods/postings"
# What each board's first (or only) request asks for, NAME being the fixture's.
FIRST = {
    "ashby:nimbusworks": "/posting-api/job-board/nimbusworks?includeCompensation=true",
    "smartrecruiters:HarborlightFoods": f"{SR}?limit=100&offset=0",
    "recruitee:tulpendata": "/api/offers/",
    "workable:quillandcompass": "/api/v1/widget/accounts/quillandcompass?details=true",
}
SOURCES = list(FIRST)
Reply = tuple[int, Any, dict[str, str]]


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def ok(body: Any) -> list[Reply]:
    return [(200, body, {})]


def sr_details(*ids: str) -> dict[str, list[Reply]]:
    return {f"{SR}/{i}": ok(fixture(f"smartrecruiters_detail_{i}.json")) for i in ids}


def good_routes() -> dict[str, list[Reply]]:
    """Every board's recorded fixture at the path its API serves it."""
    return {
        FIRST["ashby:nimbusworks"]: ok(fixture("ashby_board.json")),
        FIRST["smartrecruiters:HarborlightFoods"]: ok(fixture("smartrecruiters_list_page1.json")),
        f"{SR}?limit=100&offset=2": ok(fixture("smartrecruiters_list_page2.json")),
        **sr_details("744000101010101", "744000101010102", "744000101010103"),
        FIRST["recruitee:tulpendata"]: ok(fixture("recruitee_offers.json")),
        FIRST["workable:quillandcompass"]: ok(fixture("workable_account.json")),
    }


class Served:
    """The loopback board: its base URL and every request it saw (path, headers)."""

    def __init__(self, base: str, seen: list[tuple[str, dict[str, str]]]) -> None:
        self.base, self.seen = base, seen

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


@contextmanager
def boards(routes: dict[str, list[Reply]], prefix: str = "") -> Iterator[Served]:
    """Serve ``routes`` (path -> replies, the last one repeating); other paths get Ashby's 404."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Board(Handler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append((self.path, dict(self.headers)))
            replies = routes.get(self.path.removeprefix(prefix))
            if not replies:
                self.reply(404, b"Not Found")
                return
            status, body, headers = replies.pop(0) if len(replies) > 1 else replies[0]
            self.reply(status, body, headers)

    with serve(Board) as base:
        yield Served(base + prefix, seen)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Rate windows of their own, wide enough for a test's few requests."""
    return load_settings(
        store_url=f"sqlite:///{tmp_path / 'applyflow.db'}",
        rate_storage_url=f"sqlite:///{tmp_path / 'rate.db'}",
        rate_limits={kind: "1000/second" for kind in KINDS},
    )


@pytest.fixture
def slept() -> Iterator[list[float]]:
    """Sleeps asked for by the HTTP retries (recorded, never slept)."""
    sleeps: list[float] = []
    with use_runtime(Runtime(sleep=sleeps.append)):
        yield sleeps


def read(spec: str, served: Served, settings: Settings) -> SourceBatch:
    return read_source(spec, settings=settings, base_url=served.base)


def by_id(batch: SourceBatch) -> dict[str | None, Any]:
    return {p.external_id: p for p in batch.postings}


def test_ashby_maps_policy_compensation_locations_and_html(settings: Settings, slept):
    with boards(good_routes()) as served:
        batch = read("ashby:nimbusworks", served, settings)
    assert served.paths == [FIRST["ashby:nimbusworks"]]
    assert batch.rejections == []
    remote, hybrid, onsite = (by_id(batch)[i] for i in (
        "3f6b2c1e-8a4d-4e0f-9b7a-1c2d3e4f5a60", "9d0e1f2a-3b4c-4d5e-8f60-718293a4b5c6",
        "5a6b7c8d-9e0f-4a1b-9c2d-3e4f5a6b7c8d",
    ))  # fmt: skip
    assert remote.company == "nimbusworks"  # Ashby names no company: the board stands for it
    assert (remote.title, remote.location) == (
        "Senior Backend Engineer, Payments",
        "Remote - Europe",
    )
    assert remote.remote_policy == RemotePolicy.REMOTE
    assert remote.compensation is None  # the block is there, but empty
    assert remote.posted_at == datetime(2026, 11, 18, 9, 12, 44, 318000, tzinfo=UTC)
    assert remote.url == "https://jobs.ashbyhq.com/nimbusworks/3f6b2c1e-8a4d-4e0f-9b7a-1c2d3e4f5a60"
    assert remote.apply_url == remote.url + "/application"
    # HTML to text, entities decoded (&amp; &#39; &nbsp;), lists kept.
    assert "ledger & settlement services" in remote.description
    assert "What you'll do" in remote.description
    assert "- Design idempotent payment APIs in Python and Go" in remote.description
    assert "<" not in remote.description and "&nbsp;" not in remote.description
    # isRemote is true on a hybrid job: workplaceType decides.
    assert hybrid.remote_policy == RemotePolicy.HYBRID
    assert hybrid.compensation == "€68K – €82K • Offers Equity"
    assert onsite.remote_policy == RemotePolicy.ONSITE
    assert onsite.location == "Amsterdam, Netherlands; Lisbon, Portugal; Remote (EU)"
    assert onsite.compensation is None  # published in the API but not shown on the posting


def test_ashby_pay_from_the_salary_component_whatever_its_place(settings: Settings, slept):
    board = fixture("ashby_board.json")
    job = board["jobs"][1]
    job["compensation"].update(
        compensationTierSummary=None, scrapeableCompensationSalarySummary=None
    )
    board["jobs"] = [job, {**job, "id": "unlisted", "isListed": False}]
    with boards({FIRST["ashby:nimbusworks"]: ok(board)}) as served:
        batch = read("ashby:nimbusworks", served, settings)
    [posting] = batch.postings  # the unlisted posting is left out, and is no rejection
    assert batch.rejections == []
    assert posting.compensation == "EUR 68,000–82,000 per year"  # equity comes first: skipped


def test_smartrecruiters_pages_through_the_listing_and_reads_each_detail(settings: Settings, slept):
    with boards(good_routes()) as served:
        batch = read("smartrecruiters:HarborlightFoods", served, settings)
    assert served.paths == [
        f"{SR}?limit=100&offset=0",
        f"{SR}?limit=100&offset=2",  # after the 2 postings of page 1, until totalFound (3)
        *(f"{SR}/74400010101010{i}" for i in (1, 2, 3)),
    ]
    assert batch.rejections == []
    analyst, engineer, technician = (by_id(batch)[f"74400010101010{i}"] for i in (1, 2, 3))
    assert analyst.company == "Harborlight Foods"
    assert analyst.location == "Rotterdam, South Holland, Netherlands"
    assert analyst.remote_policy == RemotePolicy.ONSITE  # remote and hybrid both false
    assert analyst.description.startswith(
        "Company Description:\n\nHarborlight Foods makes chilled soups and sauces for 14 "
        "European markets & employs 2,300 people."
    )
    assert "Job Description:\n\nYou will forecast demand" in analyst.description
    assert "- Build weekly S&OP reports" in analyst.description
    assert "Qualifications:\n\n- Degree in supply chain" in analyst.description
    assert analyst.url == (
        "https://jobs.smartrecruiters.com/HarborlightFoods/744000101010101-supply-chain-analyst"
    )
    assert analyst.apply_url == analyst.url + "?oga=true"
    assert analyst.posted_at == datetime(2026, 11, 12, 8, 41, 17, 204000, tzinfo=UTC)
    assert engineer.remote_policy == RemotePolicy.REMOTE
    assert engineer.compensation == "70000 - 85000 EUR Annual"  # the salary custom field
    assert technician.location == "Lyon, France"  # "Lyon, , France": no region
    assert technician.remote_policy == RemotePolicy.HYBRID
    assert "Additional Information" not in technician.description  # its text is empty


def test_smartrecruiters_a_closed_posting_is_its_own_rejection(settings: Settings, slept):
    routes = good_routes()
    routes[f"{SR}/744000101010103"] = [(404, fixture("smartrecruiters_detail_404.json"), {})]
    with boards(routes) as served:
        batch = read("smartrecruiters:HarborlightFoods", served, settings)
    assert sorted(by_id(batch)) == ["744000101010101", "744000101010102"]
    [rejection] = batch.rejections
    assert (rejection.source, rejection.where) == (
        "smartrecruiters:HarborlightFoods",
        "postings[2]",
    )
    assert rejection.reason.endswith(
        "/744000101010103: 404 not found (closed since it was listed?)"
    )


EMPTY = {"offset": 0, "limit": 100, "totalFound": 0, "content": []}
DEPARTMENTS = "/v1/companies/HarborlightFoods/departments"


@pytest.mark.parametrize(
    "departments",
    [[(404, fixture("smartrecruiters_detail_404.json"), {})], ok({"content": []})],
    ids=["departments 404", "no departments"],
)
def test_smartrecruiters_an_unknown_company_is_one_clear_error(
    settings: Settings, slept, departments: list[Reply]
):
    # The listing answers 200 with nothing for a name SmartRecruiters does not know.
    routes = {FIRST["smartrecruiters:HarborlightFoods"]: ok(EMPTY), DEPARTMENTS: departments}
    with boards(routes) as served, pytest.raises(InputError) as info:
        read("smartrecruiters:HarborlightFoods", served, settings)
    message = str(info.value)
    assert message.startswith("smartrecruiters:HarborlightFoods: ")
    assert "unknown company 'HarborlightFoods'" in message and "\n" not in message


def test_smartrecruiters_a_company_without_openings_is_an_empty_board(settings: Settings, slept):
    departments = ok({"content": [{"id": "88213", "label": "Logistics"}]})
    routes = {FIRST["smartrecruiters:HarborlightFoods"]: ok(EMPTY), DEPARTMENTS: departments}
    with boards(routes) as served:
        batch = read("smartrecruiters:HarborlightFoods", served, settings)
    assert (batch.postings, batch.rejections) == ([], [])


def test_recruitee_maps_work_mode_salary_offices_and_utc_dates(settings: Settings, slept):
    with boards(good_routes()) as served:
        batch = read("recruitee:tulpendata", served, settings)
    assert served.paths == ["/api/offers/"]
    assert TOKEN_HEADER not in served.seen[0][1]  # no token set: none sent
    assert batch.rejections == []
    ml, success, warehouse = (by_id(batch)[str(i)] for i in (2981001, 2981002, 2981003))
    assert ml.company == "Tulpen Data B.V."
    assert ml.location == "Utrecht, Netherlands"  # "Remote job" is no place: the city is
    assert ml.remote_policy == RemotePolicy.REMOTE
    assert ml.compensation == "EUR 4,800–6,200 per month"  # bounds sent as text
    assert ml.posted_at == datetime(2026, 11, 16, 9, 30, 12, tzinfo=UTC)  # "... UTC"
    assert "Python & Polars" in ml.description
    assert "Requirements:\n\n- 3+ years of applied machine learning" in ml.description
    assert "CET ± 2 hours" in ml.description  # &plusmn;
    assert ml.url == "https://tulpendata.recruitee.com/o/machine-learning-engineer"
    assert ml.apply_url == ml.url + "/c/new"
    assert (success.remote_policy, success.compensation) == (RemotePolicy.HYBRID, None)
    assert warehouse.remote_policy == RemotePolicy.ONSITE
    assert warehouse.location == "Eindhoven, North Brabant, Netherlands; Tilburg"
    assert warehouse.compensation == "EUR 3,100–3,600 per month"  # "3100" and 3600, "eur"


def test_recruitee_sends_the_token_and_explains_a_401(tmp_path: Path, settings: Settings, slept):
    routes = {"/api/offers/": [(401, {"error": "Unauthorized"}, {})]}
    with boards(routes) as served, pytest.raises(InputError) as info:
        read("recruitee:tulpendata", served, settings)
    assert str(info.value) == (
        f"recruitee:tulpendata: GET {served.base}/api/offers/: 401 unauthorized (Recruitee "
        "requires a Careers Site token since 10 Feb 2027: set APPLYFLOW_RECRUITEE_TOKEN)"
    )
    secret = "tok-3f9a-never-shown"
    with_token = settings.model_copy(update={"recruitee_token": load_settings(
        recruitee_token=secret).recruitee_token})  # fmt: skip
    with boards(routes) as served, pytest.raises(InputError) as info:
        read("recruitee:tulpendata", served, with_token)
    assert served.seen[0][1][TOKEN_HEADER] == secret
    assert "refused APPLYFLOW_RECRUITEE_TOKEN" in str(info.value)
    assert secret not in str(info.value)


def test_recruitee_company_must_be_a_host_name(settings: Settings):
    with pytest.raises(InputError, match="it names a host"):
        read_source("recruitee:evil.example.com", settings=settings)


def test_workable_maps_cities_sections_and_telecommuting(settings: Settings, slept):
    with boards(good_routes()) as served:
        batch = read("workable:quillandcompass", served, settings)
    assert served.paths == [FIRST["workable:quillandcompass"]]
    assert batch.rejections == []
    remote, office, sales = (by_id(batch)[c] for c in ("A1B2C3D4E5", "F6A7B8C9D0", "0E1D2C3B4A"))
    assert remote.company == "Quill & Compass"
    assert (remote.location, remote.remote_policy) == ("Portugal", RemotePolicy.REMOTE)
    assert remote.posted_at == datetime(2026, 11, 19, tzinfo=UTC)  # a date only
    assert remote.apply_url == "https://apply.workable.com/j/A1B2C3D4E5/apply"
    assert office.location == "London, England, United Kingdom"
    assert office.remote_policy is None  # the widget has no onsite or hybrid signal
    assert sales.location == "Munich, Bavaria, Germany; Vienna, Austria"
    assert "Requirements:\n\n- Native-level German" in sales.description
    assert "Benefits:\n\n- Uncapped commission" in sales.description


def test_workable_one_job_listed_per_city_is_one_posting(settings: Settings, slept):
    account = fixture("workable_account.json")
    sales = account["jobs"][2]
    munich, vienna = ({**sales, "locations": [loc]} for loc in sales["locations"])
    account["jobs"] = [munich, account["jobs"][0], vienna]
    with boards({FIRST["workable:quillandcompass"]: ok(account)}) as served:
        batch = read("workable:quillandcompass", served, settings)
    assert [p.external_id for p in batch.postings] == ["0E1D2C3B4A", "A1B2C3D4E5"]
    assert batch.postings[0].location == "Munich, Bavaria, Germany; Vienna, Austria"


@pytest.mark.parametrize(
    ("spec", "routes", "where", "reason"),
    [
        ("ashby:nimbusworks", {FIRST["ashby:nimbusworks"]: ok(fixture("ashby_odd.json"))},
         "jobs[0]", "missing title"),
        ("smartrecruiters:HarborlightFoods",
         {FIRST["smartrecruiters:HarborlightFoods"]: ok(fixture("smartrecruiters_odd.json")),
          f"{SR}/744000101010199": ok(fixture("smartrecruiters_odd_detail_744000101010199.json"))},
         "postings[0]", "missing title"),  # its company description is text enough
        ("recruitee:tulpendata", {"/api/offers/": ok(fixture("recruitee_odd.json"))},
         "offers[0]", "missing title, description"),
        ("workable:quillandcompass",
         {FIRST["workable:quillandcompass"]: ok(fixture("workable_odd.json"))},
         "jobs[0]", "missing title, description"),
    ],
    ids=["ashby", "smartrecruiters", "recruitee", "workable"],
)  # fmt: skip
def test_a_record_with_missing_fields_is_a_rejection_naming_source_and_index(
    settings: Settings, slept, spec: str, routes: dict, where: str, reason: str
):
    with boards(routes) as served:
        batch = read(spec, served, settings)
    assert batch.postings == []
    assert [(r.source, r.where, r.reason) for r in batch.rejections] == [(spec, where, reason)]


@pytest.mark.parametrize("spec", [s for s in SOURCES if not s.startswith("smartrecruiters")])
def test_an_unknown_board_is_one_line(settings: Settings, slept, spec: str):
    # Ashby answers text/plain "Not Found"; Workable {"error": "not-found"}; Recruitee a 404.
    routes = (
        {} if spec.startswith("ashby") else {FIRST[spec]: [(404, fixture("workable_404.json"), {})]}
    )
    with boards(routes) as served, pytest.raises(InputError) as info:
        read(spec, served, settings)
    assert (
        str(info.value) == f"{spec}: GET {served.base}{FIRST[spec]}: 404 not found (check the name)"
    )


@pytest.mark.parametrize("spec", SOURCES)
def test_429_waits_as_long_as_retry_after_says(settings: Settings, slept, spec: str):
    routes = good_routes()
    routes[FIRST[spec]].insert(0, (429, {"error": "slow down"}, {"Retry-After": "7"}))
    with boards(routes) as served:
        batch = read(spec, served, settings)
    assert served.paths[:2] == [FIRST[spec], FIRST[spec]]
    assert slept == [7.0]
    assert len(batch.postings) == 3 and batch.rejections == []


@pytest.mark.parametrize("spec", SOURCES)
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>maintenance</html>", "response is not JSON"),
        ({"unexpected": []}, "response has no"),
    ],
    ids=["not JSON", "wrong shape"],
)
def test_a_malformed_body_is_one_line(settings: Settings, slept, spec: str, body: Any, reason: str):
    with boards({FIRST[spec]: [(200, body, {})]}) as served, pytest.raises(InputError) as info:
        read(spec, served, settings)
    message = str(info.value)
    assert message.startswith(f"{spec}: ") and reason in message and "\n" not in message


def test_base_url_replaces_scheme_and_host_and_keeps_the_path(settings: Settings, slept):
    with boards(good_routes(), prefix="/proxy/boards") as served:
        batch = read("ashby:nimbusworks", served, settings)
    assert served.paths == ["/proxy/boards" + FIRST["ashby:nimbusworks"]]
    assert len(batch.postings) == 3


def test_a_board_name_that_is_no_name_is_refused_before_any_request(settings: Settings):
    with pytest.raises(InputError, match="board '../admin' must be letters, digits"):
        read_source("ashby:../admin", settings=settings)
