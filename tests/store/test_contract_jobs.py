"""The store contract, ``JobStore``: upserts, listing, claims, layer outputs and statuses."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from applyflow.errors import InvalidTransition, JobNotFound, StoreError
from applyflow.models import ProfileRef, Run, Status
from applyflow.store import Store
from applyflow.store.jobs import HELD_STATUSES, MAX_SEARCH_CHARS
from tests.factories import NOW, add_job, add_jobs, job_in, make_output, make_posting

LATER = NOW + timedelta(minutes=5)


class TestUpsert:
    def test_insert_then_unchanged_then_updated(self, store: Store) -> None:
        posting = make_posting(description="First text.")
        assert store.upsert_job(posting, NOW) == "inserted"
        assert store.upsert_job(posting, LATER) == "unchanged"
        changed = posting.model_copy(update={"description": "Second text."})
        assert store.upsert_job(changed, LATER) == "updated"
        job = store.get_job(posting.id)
        assert job.description == "Second text."
        assert job.ingested_at == NOW
        assert job.updated_at == LATER

    def test_update_keeps_status_outputs_and_applied_at(self, store: Store) -> None:
        posting = make_posting()
        store.upsert_job(posting, NOW)
        store.save_layer_output(posting.id, "extract", make_output(cost=0.25), fit=70)
        store.set_status(posting.id, Status.APPLIED, NOW)
        changed = posting.model_copy(update={"title": "Senior Engineer"})
        assert store.upsert_job(changed, LATER) == "updated"
        job = store.get_job(posting.id)
        assert job.title == "Senior Engineer"
        assert (job.status, job.applied_at, job.fit) == (Status.APPLIED, NOW, 70)
        assert list(job.outputs) == ["extract"]
        assert job.cost_usd == pytest.approx(0.25)

    def test_upsert_many_counts_each_outcome(self, store: Store) -> None:
        old, same = make_posting(), make_posting()
        store.upsert_jobs([old, same], NOW)
        new = make_posting()
        report = store.upsert_jobs([new, same, old.model_copy(update={"url": "https://x"})], LATER)
        assert (report.inserted, report.updated, report.unchanged) == (1, 1, 1)
        assert report.ids == [new.id, same.id, old.id]

    def test_fields_round_trip_as_aware_utc(self, store: Store) -> None:
        posted = datetime(2026, 3, 1, 9, 15, 30, 123000, tzinfo=UTC)
        posting = make_posting(location=None, posted_at=posted)
        store.upsert_job(posting, NOW)
        job = store.get_job(posting.id)
        assert job.model_dump(include=set(posting.model_dump())) == posting.model_dump()
        assert job.posted_at == posted and job.posted_at.utcoffset() == timedelta(0)
        assert (job.status, job.outputs, job.cost_usd, job.applied_at) == (Status.NEW, {}, 0, None)
        assert job.content_hash == posting.content_hash()

    def test_unknown_job_is_job_not_found(self, store: Store) -> None:
        with pytest.raises(JobNotFound, match="nope"):
            store.get_job("nope")


class TestListJobs:
    def test_newest_updated_first_with_limit(self, store: Store) -> None:
        ids = add_jobs(store, 3)
        assert [j.id for j in store.list_jobs()] == ids[::-1]
        assert [j.id for j in store.list_jobs(limit=2)] == ids[:0:-1]

    def test_status_filter_one_or_many(self, store: Store) -> None:
        a, b, c = add_jobs(store, 3)
        store.set_status(a, Status.DISCARDED, LATER)
        store.set_status(b, Status.APPLIED, LATER)
        assert [j.id for j in store.list_jobs(status=Status.NEW)] == [c]
        found = {j.id for j in store.list_jobs(status=[Status.APPLIED, Status.DISCARDED])}
        assert found == {a, b}

    def test_company_and_text_match_case_insensitive_substrings(self, store: Store) -> None:
        acme = add_job(store, company="ACME Robotics", title="Welder", description="Metal.")
        add_job(store, company="Globex", title="Welder", description="Metal.")
        python = add_job(store, company="Initech", title="Dev", description="Loves PYTHON.")
        assert [j.id for j in store.list_jobs(company="acme")] == [acme]
        assert [j.id for j in store.list_jobs(text="robot")] == [acme]
        assert [j.id for j in store.list_jobs(text="python")] == [python]
        assert len(store.list_jobs(text="welder")) == 2
        ecole = add_job(store, company="ÉCOLE Numérique", description="Teach.")
        assert [j.id for j in store.list_jobs(company="école")] == [ecole]  # not ASCII-only

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("a.b", ["A.B Labs"]),  # regex: . is any character
            (".*", ["Dot.*Star"]),
            ("$where", ["Pay $where"]),  # Mongo operator
            ("(", []),  # invalid regex
            ("a_b", ["A_B Co"]),  # SQL LIKE: _ is any character
            ("%", ["100% Remote"]),  # SQL LIKE: % is anything
        ],
    )
    def test_filters_are_literal_never_patterns(
        self, store: Store, query: str, expected: list[str]
    ) -> None:
        companies = ("A.B Labs", "AxB Labs", "Dot.*Star", "Pay $where", "A_B Co", "100% Remote")
        for company in companies:
            add_job(store, company=company, description="Plain description.")
        assert sorted(j.company for j in store.list_jobs(company=query)) == expected
        assert sorted(j.company for j in store.list_jobs(text=query)) == expected

    @pytest.mark.parametrize("field", ["company", "text"])
    def test_unsearchable_text_is_refused_with_a_clear_error(
        self, store: Store, field: str
    ) -> None:
        add_job(store, company="Acme", description="Plain description.")
        with pytest.raises(StoreError, match=f"search {field} contains a NUL character"):
            store.list_jobs(**{field: "Ac\x00me"})
        with pytest.raises(StoreError, match=f"search {field} is 1,001 characters long"):
            store.list_jobs(**{field: "x" * (MAX_SEARCH_CHARS + 1)})
        # The longest allowed search runs, even where escaping doubles it ('.' -> '\.').
        assert store.list_jobs(**{field: "." * MAX_SEARCH_CHARS}) == []
        assert store.list_jobs(**{field: "€" * MAX_SEARCH_CHARS}) == []

    def test_min_fit_excludes_lower_and_unscored(self, store: Store) -> None:
        low, high, _unscored = add_jobs(store, 3)
        store.save_layer_output(low, "score", make_output(), fit=59)
        store.save_layer_output(high, "score", make_output(), fit=60)
        assert [j.id for j in store.list_jobs(min_fit=60)] == [high]


class TestClaims:
    def test_claims_oldest_first_and_never_twice(self, store: Store) -> None:
        ids = add_jobs(store, 5)
        first = store.claim_jobs(3, "w1", 60, LATER, run_id="run-1")
        assert [j.id for j in first] == ids[:3]
        for job in first:
            assert (job.status, job.claimed_by, job.run_id) == (Status.PROCESSING, "w1", "run-1")
            assert job.lease_until == LATER + timedelta(seconds=60)
        assert [j.id for j in store.claim_jobs(3, "w2", 60, LATER)] == ids[3:]
        assert store.claim_jobs(3, "w3", 60, LATER) == []

    def test_expired_lease_is_claimable_again(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.claim_jobs(1, "dead", 30, NOW)
        assert store.claim_jobs(1, "w2", 30, NOW + timedelta(seconds=29)) == []
        taken = store.claim_jobs(1, "w2", 30, NOW + timedelta(seconds=31))
        assert [(j.id, j.claimed_by) for j in taken] == [(job_id, "w2")]
        assert store.release_job(job_id, "dead", Status.READY, LATER) is False

    def test_job_ids_and_statuses_restrict_candidates(self, store: Store) -> None:
        a, b, c = add_jobs(store, 3)
        store.claim_jobs(1, "w", 60, NOW, job_ids=[a])
        store.release_job(a, "w", Status.FAILED, NOW, error="boom")
        assert [j.id for j in store.claim_jobs(5, "w", 60, NOW, job_ids=[a, c])] == [c]
        retried = store.claim_jobs(5, "w", 60, NOW, statuses=[Status.FAILED])
        assert [j.id for j in retried] == [a]
        assert store.get_job(b).status == Status.NEW

    def test_renew_lease_only_for_the_holder(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.claim_jobs(1, "w1", 60, NOW)
        assert store.renew_lease(job_id, "w1", 120, LATER) is True
        assert store.get_job(job_id).lease_until == LATER + timedelta(seconds=120)
        assert store.renew_lease(job_id, "w2", 120, LATER) is False
        assert store.renew_lease("missing", "w1", 120, LATER) is False

    def test_release_by_holder_sets_status_and_clears_claim(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.claim_jobs(1, "w1", 60, NOW)
        assert store.release_job(job_id, "w2", Status.READY, LATER) is False
        assert store.release_job(job_id, "w1", Status.FAILED, LATER, error="layer broke") is True
        job = store.get_job(job_id)
        assert (job.status, job.error, job.claimed_by, job.lease_until) == (
            Status.FAILED, "layer broke", None, None,
        )  # fmt: skip
        assert store.release_job(job_id, "w1", Status.READY, LATER) is False

    def test_user_discard_during_processing_wins(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.claim_jobs(1, "w1", 60, NOW)
        store.set_status(job_id, Status.DISCARDED, LATER)
        assert store.release_job(job_id, "w1", Status.READY, LATER) is False
        job = store.get_job(job_id)
        assert (job.status, job.claimed_by) == (Status.DISCARDED, None)

    def test_threads_claiming_at_once_get_each_job_once(self, store: Store) -> None:
        ids = add_jobs(store, 40)
        barrier = threading.Barrier(4)
        got: dict[str, list[str]] = {f"w{i}": [] for i in range(4)}

        def work(worker: str) -> None:
            barrier.wait()
            while batch := store.claim_jobs(2, worker, 60, LATER):
                got[worker].extend(j.id for j in batch)

        threads = [threading.Thread(target=work, args=(w,)) for w in got]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        claimed = [job_id for jobs in got.values() for job_id in jobs]
        assert sorted(claimed) == sorted(ids)
        for worker, jobs in got.items():
            assert all(store.get_job(j).claimed_by == worker for j in jobs)


NAMED = [s for s in Status if s != Status.PROCESSING]


class TestClaimsByIdOnEveryStatus:
    """``run --job ID``: a named job is claimed whatever its status; an application keeps it."""

    def test_every_status_is_claimed_by_id_and_only_applications_keep_theirs(
        self, store: Store
    ) -> None:
        ids = {status: job_in(store, status) for status in Status}
        claimed = store.claim_jobs(99, "w", 60, NOW, job_ids=list(ids.values()), statuses=NAMED)
        got = {job.id: job for job in claimed}
        assert set(got) == set(ids.values())  # processing too: its lease had passed
        for status, job_id in ids.items():
            job = got[job_id]
            held = status in HELD_STATUSES
            assert job.status == (status if held else Status.PROCESSING), status
            assert (job.claimed_by, job.lease_until) == ("w", NOW + timedelta(seconds=60))
            assert store.get_job(job_id).status == job.status

    def test_an_application_is_claimed_only_when_asked_for_and_not_held(self, store: Store) -> None:
        job_id = job_in(store, Status.INTERVIEW)
        queue = [s for s in NAMED if s not in HELD_STATUSES]
        assert store.claim_jobs(5, "w1", 60, NOW, job_ids=[job_id], statuses=queue) == []
        [held] = store.claim_jobs(5, "w1", 60, NOW, job_ids=[job_id], statuses=NAMED)
        assert (held.status, held.claimed_by) == (Status.INTERVIEW, "w1")
        # A live hold is not taken again, nor by a queue claim; a passed one is.
        assert store.claim_jobs(5, "w2", 60, LATER - timedelta(minutes=4), statuses=NAMED) == []
        assert store.claim_jobs(5, "w2", 60, LATER) == []
        assert store.renew_lease(job_id, "w1", 600, NOW) is True
        assert store.claim_jobs(5, "w2", 60, LATER, job_ids=[job_id], statuses=NAMED) == []
        later = NOW + timedelta(seconds=601)
        [taken] = store.claim_jobs(5, "w2", 60, later, job_ids=[job_id], statuses=NAMED)
        assert (taken.status, taken.claimed_by) == (Status.INTERVIEW, "w2")
        assert store.renew_lease(job_id, "w1", 60, later) is False

    def test_releasing_an_application_keeps_status_dates_and_history(self, store: Store) -> None:
        job_id = job_in(store, Status.APPLIED)
        before = store.get_job(job_id)
        store.claim_jobs(1, "w", 60, NOW, job_ids=[job_id], statuses=NAMED)
        assert store.release_job(job_id, "other", Status.APPLIED, LATER) is False
        assert store.release_job(job_id, "w", Status.APPLIED, LATER, error="generate failed")
        after = store.get_job(job_id)
        assert (after.status, after.claimed_by, after.lease_until, after.error) == (
            Status.APPLIED, None, None, "generate failed",
        )  # fmt: skip
        assert (after.applied_at, after.status_changed_at) == (
            before.applied_at, before.status_changed_at,
        )  # fmt: skip
        assert after.history == before.history
        assert store.release_job(job_id, "w", Status.APPLIED, LATER) is False

    def test_a_users_mark_during_a_hold_wins(self, store: Store) -> None:
        job_id = job_in(store, Status.APPLIED)
        store.claim_jobs(1, "w", 60, NOW, job_ids=[job_id], statuses=NAMED)
        store.set_status(job_id, Status.INTERVIEW, LATER)
        assert store.renew_lease(job_id, "w", 60, LATER) is False
        assert store.release_job(job_id, "w", Status.APPLIED, LATER) is False
        job = store.get_job(job_id)
        assert (job.status, job.claimed_by) == (Status.INTERVIEW, None)


class TestLayerOutputs:
    def test_sets_output_fit_and_adds_cost(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.save_layer_output(job_id, "extract", make_output(cost=0.1, skills=["sql"]))
        store.save_layer_output(job_id, "score", make_output(cost=0.05), fit=88)
        job = store.get_job(job_id)
        assert list(job.outputs) == ["extract", "score"]
        assert job.outputs["extract"].output == {"skills": ["sql"]}
        assert job.outputs["extract"].at == NOW
        assert (job.fit, job.status) == (88, Status.NEW)
        assert job.cost_usd == pytest.approx(0.15)

    def test_the_profile_an_output_was_made_from_round_trips(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        used = ProfileRef(path="/home/me/profile.md", sha256="ab" * 32)
        store.save_layer_output(job_id, "extract", make_output())  # recorded before profiles
        store.save_layer_output(job_id, "score", make_output().model_copy(update={"profile": used}))
        job = store.get_job(job_id)
        assert (job.outputs["extract"].profile, job.outputs["score"].profile) == (None, used)
        assert job.profile == used
        run = Run(id="run-p", started_at=NOW, profile=used)
        store.save_run(run)
        assert store.get_run("run-p") == run

    def test_output_and_status_change_never_overwrite_each_other(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.claim_jobs(1, "w1", 60, NOW)
        store.set_status(job_id, Status.DISCARDED, LATER)
        store.save_layer_output(job_id, "extract", make_output(cost=0.2))
        job = store.get_job(job_id)
        assert job.status == Status.DISCARDED
        assert "extract" in job.outputs

    def test_unknown_job_is_job_not_found(self, store: Store) -> None:
        with pytest.raises(JobNotFound):
            store.save_layer_output("missing", "extract", make_output())


class TestStatus:
    def test_applied_stamps_and_application_statuses_keep_it(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        assert store.set_status(job_id, Status.APPLIED, NOW).applied_at == NOW
        assert store.set_status(job_id, Status.APPLIED, LATER).applied_at == NOW
        job = store.set_status(job_id, Status.INTERVIEW, LATER)
        assert (job.status, job.applied_at, job.updated_at) == (Status.INTERVIEW, NOW, LATER)
        assert store.set_status(job_id, Status.REJECTED, LATER).applied_at == NOW
        assert store.set_status(job_id, Status.DISCARDED, LATER).applied_at is None
        assert store.get_job(job_id).applied_at is None

    def test_interview_without_applied_stamps_now(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.set_status(job_id, Status.PROCESSING, NOW)
        store.set_status(job_id, Status.READY, NOW)
        assert store.set_status(job_id, Status.INTERVIEW, LATER).applied_at == LATER

    def test_invalid_transition_changes_nothing(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        with pytest.raises(InvalidTransition, match="'new' to 'offer'"):
            store.set_status(job_id, Status.OFFER, LATER)
        job = store.get_job(job_id)
        assert (job.status, job.updated_at) == (Status.NEW, NOW)

    def test_unknown_job_is_job_not_found(self, store: Store) -> None:
        with pytest.raises(JobNotFound):
            store.set_status("missing", Status.APPLIED, NOW)

    def test_error_is_stored_and_cleared(self, store: Store) -> None:
        (job_id,) = add_jobs(store, 1)
        store.set_status(job_id, Status.PROCESSING, NOW)
        assert store.set_status(job_id, Status.FAILED, NOW, error="timeout").error == "timeout"
        assert store.set_status(job_id, Status.NEW, LATER).error is None
