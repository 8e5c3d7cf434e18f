"""MongoStore-specific behaviour: indexes, literal user text, masked URLs, integer money, and
8 threads sharing one store (claims, reservations, alerts).

Runs on mongomock, and also on a real server when ``APPLYFLOW_TEST_MONGODB_URI`` is set.
mongomock stores made by ``make_store`` get a real server's single-document write atomicity
(``tests/mongomock_atomic.py`` says why plain mongomock double-claims under threads); the thread
tests then check the store's own protocol on top of it. Against a real server nothing is patched.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mongomock
import pytest
from pymongo.errors import OperationFailure

from applyflow.errors import BudgetExceeded, JobNotFound, StoreError
from applyflow.models import (
    Alert,
    LayerOutput,
    ProgressRecord,
    ProgressStatus,
    Status,
    UsageRecord,
)
from applyflow.store.mongo import MongoStore, client_options, pinned_database
from applyflow.store.mongo.indexes import INDEXES, OBSOLETE, QUERIES, claim_query, index_name, order
from tests.conftest import opened_store
from tests.factories import make_posting
from tests.mongo_server import MONGO_URI, with_database

pytestmark = pytest.mark.mongo

KINDS = ["mongomock"] + (["mongodb"] if MONGO_URI else [])
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
THREADS = 8


@pytest.fixture(params=KINDS)
def mongo_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MongoStore]:
    with opened_store(request.param, tmp_path) as store:
        yield store


def _run_threads(target: Any) -> None:
    """Start THREADS threads together (barrier) and re-raise the first failure."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            barrier.wait(timeout=30)
            target(k)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker thread did not finish"
    if errors:
        raise errors[0]


# --- indexes (the table in applyflow/store/mongo/_indexes.py) -------------------------------
def _key_fields(keys: tuple[tuple[str, int], ...]) -> list[str]:
    return [field for field, _ in keys]


def test_the_indexes_are_exactly_the_table(mongo_store: MongoStore) -> None:
    db = mongo_store._db
    for collection in {index.collection for index in INDEXES} | set(OBSOLETE):
        got = db[collection].index_information()
        want = {index_name(i.keys): i for i in INDEXES if i.collection == collection}
        assert set(got) - {"_id_"} == set(want), collection  # nothing unused, nothing missing
        for name, index in want.items():
            assert [(f, int(d)) for f, d in got[name]["key"]] == list(index.keys), name
            assert bool(got[name].get("unique")) == index.unique, name
            assert got[name].get("expireAfterSeconds") == index.expire_after_s, name


def test_each_query_is_served_by_its_index_in_order() -> None:
    """Equality fields first, then the sort (direction included), then the ranges: an index
    in that order serves the sort with no in-memory SORT and bounds every range."""
    by_name = {index_name(i.keys): i for i in INDEXES}
    used = set()
    for name, query in QUERIES.items():
        index = by_name[query.index]
        assert index.collection == query.collection, name
        fields = _key_fields(index.keys)
        n_eq, n_sort = len(query.equality), len(query.sort)
        assert set(fields[:n_eq]) == set(query.equality), name
        assert index.keys[n_eq : n_eq + n_sort] == query.sort, name
        sorted_fields = set(_key_fields(query.sort))
        assert all(r in sorted_fields or r in fields[n_eq + n_sort :] for r in query.ranges), name
        used.add(query.index)
    # Every index serves a query, but for constraints (unique call ids) and TTL expiry.
    plain = {name for name, i in by_name.items() if not i.unique and i.expire_after_s is None}
    assert plain <= used, f"indexes no query uses: {plain - used}"


def test_old_indexes_are_dropped_when_a_store_opens() -> None:
    client = mongomock.MongoClient()
    db = client["upgraded"]
    for collection, names in OBSOLETE.items():
        for name in names:
            fields = name.removesuffix("_1").removesuffix("_-1").split("_1_")
            db[collection].create_index([(f, 1) for f in fields], name=name)
    MongoStore("mongodb://mongomock.test/upgraded", client=client)
    for collection, names in OBSOLETE.items():
        assert not set(names) & set(db[collection].index_information()), collection


@pytest.mark.skipif(not MONGO_URI, reason="needs APPLYFLOW_TEST_MONGODB_URI (a real server)")
def test_a_real_server_plans_each_query_on_its_index_without_sorting(
    mongo_store: MongoStore,
) -> None:
    """explain() of the queries the store sends: the named index wins, no SORT, no COLLSCAN."""
    statuses = list(Status)
    mongo_store.upsert_jobs((make_posting() for _ in range(300)), NOW)
    for i, job in enumerate(mongo_store.list_jobs(limit=300)):
        mongo_store.set_status(job.id, statuses[i % 3 + 1] if i % 2 else Status.NEW, NOW)
    db, later = mongo_store._db, NOW + timedelta(days=1)
    finds = {
        "claim_jobs": ("jobs", claim_query([Status.NEW], NOW)),
        "list_jobs": ("jobs", {}),
        "list_jobs_by_status": ("jobs", {"status": {"$in": ["new", "ready"]}}),
        "applied_since": ("jobs", {"applied_at": {"$gte": NOW, "$lte": later}}),
        "job_of_posting": ("jobs", {"sources.posting_id": "p"}),
        "same_posting_elsewhere": ("jobs", {"match_key": "k", "sources.source": {"$ne": "s"}}),
        "list_followups": (
            "jobs",
            {"status": {"$in": ["applied"]}, "status_changed_at": {"$lte": NOW}},
        ),
        "usage_between": ("usage", {"at": {"$gte": NOW, "$lt": later}}),
        "usage_of_run": ("usage", {"run_id": "r"}),
        "usage_of_job": ("usage", {"job_id": "j"}),
        "list_progress": ("progress", {"run_id": "r"}),
        "list_runs": ("runs", {}),
        "stale_runs": ("runs", {"status": "running", "heartbeat_at": {"$lt": NOW}}),
        "reservations_past_lease": ("reservations", {"state": "open", "lease_until": {"$lt": NOW}}),
        "expired_holds": ("budget", {"holds.until": {"$lt": NOW}}),
        "old_settle_markers": ("budget", {"applied.at": {"$lt": NOW}}),
        "list_alerts": ("alerts", {"at": {"$gte": NOW}}),
        "alerts_by_kind": ("alerts", {}),
        "usage_totals": ("usage_totals", {}),
        "pending_alerts": ("alert_keys", {"pending.at": {"$gte": NOW}}),
        "status_counts": ("jobs", {"status": "new"}),
    }
    assert set(finds) == set(QUERIES)
    for name, (collection, query) in finds.items():
        shape = QUERIES[name]
        cursor = db[collection].find(query)
        if shape.sort:
            cursor = cursor.sort(order(name))
        stages, indexes = _plan(cursor.explain())
        assert "COLLSCAN" not in stages and "SORT" not in stages, (name, stages)
        assert indexes == {shape.index}, (name, indexes)


def _plan(explained: dict) -> tuple[set[str], set[str]]:
    """Stages and index names of the winning plan (rejected plans left out)."""
    stages: set[str] = set()
    indexes: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "stage" in node:
                stages.add(node["stage"])
            if "indexName" in node:
                indexes.add(node["indexName"])
            for key, value in node.items():
                if key != "rejectedPlans":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(explained.get("queryPlanner", {}).get("winningPlan", explained))
    return stages, indexes


# --- the connection: timeouts, pinned reads and writes, test databases ------------------------
def test_a_uri_cannot_unpin_primary_reads_or_majority_writes() -> None:
    import pymongo
    from pymongo.read_preferences import Primary

    url = "mongodb://db.example/apps?readPreference=secondaryPreferred&w=0"
    client = pymongo.MongoClient(url, connect=False, **client_options(url))
    try:
        db = pinned_database(client, "apps")
        assert isinstance(db.read_preference, Primary)
        assert db.write_concern.document == {"w": "majority"}
        assert client.options.server_selection_timeout == 20  # outlasts a 10-12 s election
        assert client.options.pool_options.socket_timeout == 30  # a reply is awaited 30 s
        assert client.options.pool_options.connect_timeout == 10
    finally:
        client.close()


def test_the_uri_own_timeouts_win() -> None:
    url = "mongodb://h/x?serverSelectionTimeoutMS=300&socketTimeoutMS=5000"
    options = client_options(url)
    assert "serverSelectionTimeoutMS" not in options and "socketTimeoutMS" not in options
    assert options["connectTimeoutMS"] == 10_000
    assert "socketTimeoutMS" not in client_options("mongodb://h/x?timeoutMS=9000")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mongodb://root:pw@host/", "mongodb://root:pw@host/t?authSource=admin"),
        ("mongodb://u:p@h:27017/app?replicaSet=rs", "mongodb://u:p@h:27017/t?replicaSet=rs&authSource=app"),
        ("mongodb://u:p@h/app?authSource=users", "mongodb://u:p@h/t?authSource=users"),
        ("mongodb+srv://u:p@cluster.example.net", "mongodb+srv://u:p@cluster.example.net/t?authSource=admin"),
        ("mongodb://h/app?w=majority", "mongodb://h/t?w=majority"),
    ],
)  # fmt: skip
def test_a_test_database_keeps_the_uri_login_database(uri: str, expected: str) -> None:
    assert with_database(uri, "t") == expected


def test_drop_on_close_drops_collections_without_drop_database() -> None:
    class ReadWriteOnly(mongomock.MongoClient):
        """A user with the readWrite role: no dropDatabase."""

        def drop_database(self, name_or_database: object) -> None:
            raise OperationFailure("not authorized on x to execute command dropDatabase", 13)

    client = ReadWriteOnly()
    store = MongoStore("mongodb://mongomock.test/throwaway", client=client, drop_on_close=True)
    store.upsert_job(make_posting(), NOW)
    assert client["throwaway"].list_collection_names()
    store.close()
    assert client["throwaway"].list_collection_names() == []


# --- user text stays literal -----------------------------------------------------------------
OPERATOR_LIKE = {
    "title": "$where",
    "company": "a.b",
    "location": '{"$ne": null}',
    "description": '{"$gt": ""} this.a == 1',
}


def test_operator_like_posting_fields_are_stored_as_values(mongo_store: MongoStore) -> None:
    posting = make_posting(**OPERATOR_LIKE)
    assert mongo_store.upsert_job(posting, NOW) == "inserted"
    raw = mongo_store._db.jobs.find_one({"_id": posting.id})
    assert {k: raw[k] for k in OPERATOR_LIKE} == OPERATOR_LIKE
    job = mongo_store.get_job(posting.id)
    assert (job.title, job.company, job.location, job.description) == tuple(OPERATOR_LIKE.values())


def test_search_text_is_literal_not_a_regex_or_operator(mongo_store: MongoStore) -> None:
    odd = make_posting(**OPERATOR_LIKE)
    plain = make_posting(company="aXb", title="Engineer", description="nothing special")
    for posting in (odd, plain):
        mongo_store.upsert_job(posting, NOW)

    def ids(**query: Any) -> set[str]:
        return {job.id for job in mongo_store.list_jobs(**query)}

    assert ids(company="A.B") == {odd.id}  # '.' is a dot, not "any character"
    assert ids(company=".*") == set()
    assert ids(text='{"$gt": ""}') == {odd.id}
    assert ids(text="$WHERE") == {odd.id}
    assert ids(text="this.a == 1") == {odd.id}
    assert ids(text="^") == set()
    assert ids(text="special") == {plain.id}


def test_layer_output_keys_round_trip_and_layer_names_are_checked(
    mongo_store: MongoStore,
) -> None:
    posting = make_posting()
    mongo_store.upsert_job(posting, NOW)
    payload = {"$gt": 1, "a.b": {"$where": "x"}, "plain": [1, "two"]}
    output = LayerOutput(output=payload, input_hash="h", model="offline", cost_usd=0.1, at=NOW)
    mongo_store.save_layer_output(posting.id, "extract", output)
    assert mongo_store.get_job(posting.id).outputs["extract"].output == payload
    for bad in ("$set", "outputs.extract", "", "a b"):
        with pytest.raises(ValueError, match="invalid layer name"):
            mongo_store.save_layer_output(posting.id, bad, output)
    assert set(mongo_store.get_job(posting.id).outputs) == {"extract"}


def test_ids_given_as_query_documents_match_nothing(mongo_store: MongoStore) -> None:
    mongo_store.upsert_job(make_posting(), NOW)
    sneaky: Any = {"$ne": ""}
    with pytest.raises(JobNotFound):
        mongo_store.get_job(sneaky)
    with pytest.raises(JobNotFound):
        mongo_store.set_status(sneaky, Status.DISCARDED, NOW)
    assert mongo_store.claim_jobs(5, "w", 60, NOW, job_ids=[sneaky]) == []
    assert mongo_store.status_counts()["new"] == 1


# --- connection errors -----------------------------------------------------------------------
UNREACHABLE = "mongodb://user:secret@127.0.0.1:1/x?serverSelectionTimeoutMS=300"


def test_unreachable_server_names_the_masked_url() -> None:
    with pytest.raises(StoreError) as caught:
        MongoStore(UNREACHABLE)
    message = str(caught.value)
    assert "mongodb://user:**********@127.0.0.1:1/x" in message
    assert "secret" not in message


def test_losing_the_server_later_raises_store_error_with_masked_url() -> None:
    import pymongo

    store = MongoStore("mongodb://mongomock.test/applyflow_test", client=mongomock.MongoClient())
    store.url = UNREACHABLE
    store._db = pymongo.MongoClient(UNREACHABLE)["x"]  # the server "goes away"
    try:
        with pytest.raises(StoreError, match=r"user:\*+@127\.0\.0\.1:1") as caught:
            store.ping()
        assert "secret" not in str(caught.value)
    finally:
        store._db.client.close()


def test_bad_database_name_is_refused() -> None:
    with pytest.raises(StoreError, match="invalid MongoDB database name 'a.b'"):
        MongoStore("mongodb://mongomock.test/a.b", client=mongomock.MongoClient())


# --- money is integer ------------------------------------------------------------------------
def test_budget_counters_are_integers_without_float_drift(mongo_store: MongoStore) -> None:
    caps = {"total": 0.3}
    mongo_store.reserve("r1", caps, 0.1, NOW, 60)
    mongo_store.reserve("r2", caps, 0.2, NOW, 60)  # 0.1 + 0.2 > 0.3 in floats; fits exactly
    with pytest.raises(BudgetExceeded):
        mongo_store.reserve("r3", caps, 0.000001, NOW, 60)
    mongo_store.settle("r1", ["total"], 0.1, NOW)
    mongo_store.settle("r2", ["total"], 0.2, NOW)
    counter = mongo_store._db.budget.find_one({"_id": "total"})
    assert counter["spent"] == 300_000_000 and counter["reserved"] == 0
    assert isinstance(counter["spent"], int)
    assert mongo_store.scope_states(["total"], NOW)["total"].spent == 0.3


def test_reservation_is_held_through_the_last_instant_of_its_lease(
    mongo_store: MongoStore,
) -> None:
    mongo_store.reserve("r", {"total": 1.0}, 0.5, NOW, lease_s=60)
    end = NOW + timedelta(seconds=60)
    assert mongo_store.open_reservations(end) == 1
    assert mongo_store.scope_states(["total"], end)["total"].reserved == 0.5
    assert mongo_store.expire_reservations(end) == 0
    just_after = end + timedelta(milliseconds=1)  # BSON dates keep milliseconds
    assert mongo_store.open_reservations(just_after) == 0
    assert mongo_store.expire_reservations(just_after) == 1


# --- threads ---------------------------------------------------------------------------------
def test_threads_claiming_100_jobs_each_get_distinct_jobs(mongo_store: MongoStore) -> None:
    mongo_store.upsert_jobs((make_posting() for _ in range(100)), NOW)
    claims: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(k: int) -> None:
        while batch := mongo_store.claim_jobs(3, f"worker-{k}", 600, NOW):
            with lock:
                claims.update(job.id for job in batch)

    _run_threads(worker)
    assert len(claims) == 100
    assert max(claims.values()) == 1
    assert mongo_store.status_counts()["processing"] == 100


def test_threads_reserving_and_settling_never_pass_a_cap(mongo_store: MongoStore) -> None:
    settled: list[float] = []
    refused = Counter[str]()
    lock = threading.Lock()

    def worker(k: int) -> None:
        rng = random.Random(k)
        caps = {"total": 1.00, "day:2026-03-04": 0.80, f"run:{k}": 0.15}
        for i in range(30):
            amount = round(rng.uniform(0.005, 0.09), 6)
            rid = f"{k}-{i}"
            try:
                mongo_store.reserve(rid, caps, amount, NOW, 600)
            except BudgetExceeded as exc:
                with lock:
                    refused[exc.scope.split(":")[0]] += 1
                continue
            if rng.random() < 0.2:
                mongo_store.release(rid)
                continue
            actual = round(amount * rng.uniform(0.5, 1.0), 6)
            usage = UsageRecord(
                call_id=rid, run_id=str(k), provider="offline", model="m", input_tokens=1,
                output_tokens=1, cost_usd=actual, at=NOW,
            )  # fmt: skip
            mongo_store.settle(rid, list(caps), actual, NOW, usage)
            with lock:
                settled.append(actual)

    _run_threads(worker)
    states = mongo_store.scope_states(
        ["total", "day:2026-03-04", *(f"run:{k}" for k in range(THREADS))], NOW
    )
    assert states["total"].spent == pytest.approx(sum(settled), abs=1e-9)
    assert states["total"].spent <= 1.00
    assert states["day:2026-03-04"].spent <= 0.80
    assert all(states[f"run:{k}"].spent <= 0.15 for k in range(THREADS))
    assert refused, "the caps never bound; the test proves nothing"
    assert mongo_store.usage_total().cost_usd == pytest.approx(sum(settled), abs=1e-9)
    (totals,) = mongo_store.usage_totals()  # concurrent $incs lose nothing
    assert (totals.calls, totals.cost_usd) == (len(settled), pytest.approx(sum(settled), abs=1e-9))
    # Nothing stays reserved, not even in the raw counters that later reservations check.
    assert mongo_store.open_reservations(NOW) == 0
    assert all(state.reserved == 0 for state in states.values())
    assert {doc["reserved"] for doc in mongo_store._db.budget.find()} == {0}


def test_threads_recording_one_alert_store_it_once(mongo_store: MongoStore) -> None:
    stored: list[bool] = []

    def worker(k: int) -> None:
        alert = Alert(key="budget:day", kind="budget", message=f"from {k}", at=NOW)
        stored.append(mongo_store.record_alert(alert, dedup_s=3600))

    _run_threads(worker)
    assert stored.count(True) == 1
    assert len(mongo_store.list_alerts()) == 1


def test_rows_stored_before_the_rollups_are_counted_once(tmp_path: Path) -> None:
    """A database written by an applyflow without rollups: the first open counts its rows."""
    client = mongomock.MongoClient()
    url = "mongodb://mongomock.test/applyflow_upgrade"
    store = MongoStore(url, client=client)
    store.record_usage(
        UsageRecord(
            call_id="c1",
            provider="openai",
            model="m",
            layer="score",
            input_tokens=3,
            output_tokens=4,
            cost_usd=0.5,
            at=NOW,
        )
    )
    store.record_progress(ProgressRecord(run_id="r", job_id="j", layer="extract",
                                         status=ProgressStatus.COMPLETED, duration_s=2.0,
                                         updated_at=NOW))  # fmt: skip
    db = client["applyflow_upgrade"]
    for name in ("usage_totals", "layer_stats", "meta"):  # as an older applyflow left it
        db.drop_collection(name)
    for _ in range(2):  # the second open counts nothing again
        store = MongoStore(url, client=client)
    (totals,) = store.usage_totals()
    assert (totals.calls, totals.input_tokens, totals.cost_usd) == (1, 3, 0.5)
    (extract,) = store.layer_stats()
    assert (extract.completed, extract.seconds) == (1, 2.0)


# --- jobs stored before job sources and history ----------------------------------------------
def test_jobs_from_before_sources_are_backfilled_on_open(mongo_store: MongoStore) -> None:
    ready, applied = make_posting(), make_posting(title="Platform Engineer")
    old = {"ingested_at": NOW, "updated_at": NOW, "outputs": {}, "fit": None, "cost_nanos": 0,
           "error": None, "claimed_by": None, "lease_until": None, "run_id": None}  # fmt: skip
    for posting, status, applied_at in ((ready, "ready", None), (applied, "applied", NOW)):
        fields = posting.model_dump(include={"source", "external_id", "url", "title", "company",
                                             "location", "description", "posted_at"})  # fmt: skip
        mongo_store._db.jobs.insert_one(  # the document the store wrote before sources existed
            {"_id": posting.id, **fields, "content_hash": posting.content_hash(), **old,
             "status": status, "applied_at": applied_at}
        )  # fmt: skip
    reopened = MongoStore(mongo_store.url, client=mongo_store._client)
    job = reopened.get_job(ready.id)
    assert [(s.posting_id, s.content_hash) for s in job.sources] == [
        (ready.id, ready.content_hash())
    ]
    assert job.match_key == ready.match_key and job.history == []
    assert reopened.get_job(applied.id).status_changed_at == NOW
    report = reopened.upsert_jobs([ready, applied], NOW + timedelta(days=1))
    assert (report.unchanged, report.requeued) == (2, 0)
    assert reopened.get_job(ready.id).status == Status.READY
