"""The store contract, ``JobStore`` across sources and after applying: one job per posting on
several sources, changed postings back to the queue, the status history, backdated marks and
the follow-ups."""

from __future__ import annotations

from datetime import timedelta

import pytest

from applyflow.errors import InvalidDate
from applyflow.models import JobPosting, Status
from applyflow.store import Store
from applyflow.store.jobs import Upserted
from tests.factories import NOW, make_output, make_posting

LATER = NOW + timedelta(hours=1)
DAY = timedelta(days=1)


def posting(source: str, external_id: str | None, **overrides: object) -> JobPosting:
    """The same job as each board writes it (fields overridable)."""
    fields: dict[str, object] = {
        "source": source,
        "external_id": external_id,
        "url": f"https://{source.split(':')[0]}.example/{external_id or 'file'}",
        "title": "Senior Backend Engineer",
        "company": "Nimbus Works",
        "location": "Berlin, Germany",
        "description": "Build payment services.",
    }
    fields.update(overrides)
    return JobPosting(**fields)  # type: ignore[arg-type]


FILE = posting("file:jobs.json", None, company="Nimbus Works, Inc.", url=None)
GREENHOUSE = posting("greenhouse:nimbus", "4012", title="Sr. Backend Engineer")
ASHBY = posting(
    "ashby:nimbusworks",
    "3f6b",
    company="nimbusworks",
    title="Backend Engineer, Senior",
    location="Berlin",
    apply_url="https://ashby.example/3f6b/application",
)


def in_status(store: Store, job_id: str, status: Status) -> None:
    """Walk a new job to ``status`` the way the pipeline and a user would."""
    if status == Status.NEW:
        return
    [claimed] = store.claim_jobs(1, "w1", 60, NOW, job_ids=[job_id])
    if status == Status.PROCESSING:
        return
    pipeline_end = status in (
        Status.FAILED,
        Status.SKIPPED,
        Status.NEEDS_REVIEW,
        Status.OVER_BUDGET,
    )
    store.release_job(claimed.id, "w1", status if pipeline_end else Status.READY, NOW)
    if status in (Status.OFFER, Status.INTERVIEW, Status.REJECTED):
        store.set_status(job_id, Status.APPLIED, NOW)
    if status != Status.READY and not pipeline_end:
        store.set_status(job_id, status, NOW)
    assert store.get_job(job_id).status == status


class TestOneJobPerPosting:
    def test_the_same_job_on_a_file_greenhouse_and_ashby_is_one_job(self, store: Store) -> None:
        first = store.upsert_posting(FILE, NOW)
        linked = [store.upsert_posting(p, LATER) for p in (GREENHOUSE, ASHBY)]
        assert first.outcome == "inserted"
        assert [(u.outcome, u.job_id) for u in linked] == [("linked", FILE.id)] * 2
        [job] = store.list_jobs()
        assert [s.source for s in job.sources] == [FILE.source, GREENHOUSE.source, ASHBY.source]
        assert [s.url for s in job.sources] == [None, GREENHOUSE.url, ASHBY.url]
        assert job.sources[2].apply_url == ASHBY.apply_url
        assert [s.posting_id for s in job.sources] == [FILE.id, GREENHOUSE.id, ASHBY.id]
        assert job.sources[1].first_seen == LATER
        # A link adds a source: the job keeps the posting it was found with, and its queue place.
        assert (job.title, job.company, job.status) == (FILE.title, FILE.company, Status.NEW)
        again = store.upsert_jobs([FILE, GREENHOUSE, ASHBY], LATER + DAY)
        assert (again.unchanged, again.ids) == (3, [FILE.id] * 3)

    def test_postings_of_one_source_are_never_merged(self, store: Store) -> None:
        # Two openings of one title on one board (two ids) are two jobs...
        a = store.upsert_posting(GREENHOUSE, NOW)
        b = store.upsert_posting(posting("greenhouse:nimbus", "4013"), NOW + timedelta(seconds=1))
        assert (a.outcome, b.outcome) == ("inserted", "inserted")
        # ...and another board's copy joins the one found first.
        assert store.upsert_posting(ASHBY, LATER) == Upserted("linked", a.job_id)
        assert store.get_job(a.job_id).sources[-1].source == ASHBY.source
        assert len(store.get_job(b.job_id).sources) == 1

    def test_other_jobs_of_the_company_stay_apart(self, store: Store) -> None:
        store.upsert_posting(GREENHOUSE, NOW)
        others = [
            posting("ashby:nimbusworks", "x1", title="Junior Backend Engineer"),
            posting("ashby:nimbusworks", "x2", location="Hamburg, Germany"),
            posting("ashby:nimbusworks", "x3", company="Cumulus Works"),
        ]
        assert [store.upsert_posting(p, LATER).outcome for p in others] == ["inserted"] * 3

    def test_an_applied_job_found_on_another_board_stays_applied(self, store: Store) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        in_status(store, job_id, Status.APPLIED)
        assert store.upsert_posting(ASHBY, LATER).outcome == "linked"
        job = store.get_job(job_id)
        assert (job.status, job.applied_at) == (Status.APPLIED, NOW)
        assert job.history[-1].status == Status.APPLIED  # nothing was requeued or noted

    def test_report_counts_linked_and_requeued(self, store: Store) -> None:
        store.upsert_jobs([GREENHOUSE], NOW)
        in_status(store, GREENHOUSE.id, Status.READY)
        changed = GREENHOUSE.model_copy(update={"description": "Build ledgers."})
        report = store.upsert_jobs([ASHBY, changed, make_posting()], LATER)
        assert (report.inserted, report.linked, report.updated, report.requeued) == (1, 1, 1, 1)
        assert report.ids[:2] == [GREENHOUSE.id, GREENHOUSE.id]


class TestChangedPostings:
    @pytest.mark.parametrize(
        "status",
        [Status.READY, Status.SKIPPED, Status.FAILED, Status.NEEDS_REVIEW, Status.PROCESSING],
    )
    def test_back_to_the_queue_when_its_documents_are_stale(
        self, store: Store, status: Status
    ) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        in_status(store, job_id, status)
        store.save_layer_output(job_id, "extract", make_output(), fit=None)
        changed = GREENHOUSE.model_copy(update={"description": "Build ledgers now."})
        assert store.upsert_posting(changed, LATER).outcome == "requeued"
        job = store.get_job(job_id)
        assert (job.status, job.description, job.claimed_by) == (
            Status.NEW,
            changed.description,
            None,
        )
        assert job.status_changed_at == LATER
        assert list(job.outputs) == ["extract"]  # kept: its input hash now tells it is stale
        last = job.history[-1]
        assert (last.previous, last.status, last.at) == (status, Status.NEW, LATER)
        assert last.note == "posting changed on greenhouse:nimbus: back to the queue"
        assert store.upsert_posting(changed, LATER + DAY).outcome == "unchanged"

    def test_a_worker_whose_job_was_requeued_loses_its_claim(self, store: Store) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        in_status(store, job_id, Status.PROCESSING)
        store.upsert_posting(GREENHOUSE.model_copy(update={"title": "Staff Engineer"}), LATER)
        assert not store.renew_lease(job_id, "w1", 60, LATER)
        assert not store.release_job(job_id, "w1", Status.READY, LATER)
        assert store.get_job(job_id).status == Status.NEW

    @pytest.mark.parametrize(
        "status", [Status.APPLIED, Status.INTERVIEW, Status.OFFER, Status.REJECTED]
    )
    def test_an_application_keeps_its_status_with_a_note(
        self, store: Store, status: Status
    ) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        in_status(store, job_id, status)
        changed_at = store.get_job(job_id).status_changed_at
        changed = GREENHOUSE.model_copy(update={"location": "Hamburg, Germany"})
        assert store.upsert_posting(changed, LATER).outcome == "updated"
        job = store.get_job(job_id)
        assert (job.status, job.location, job.applied_at) == (status, "Hamburg, Germany", NOW)
        assert job.status_changed_at == changed_at  # a note is no status change
        last = job.history[-1]
        assert (last.previous, last.status) == (status, status)
        assert last.note == "posting changed on greenhouse:nimbus after the application"

    @pytest.mark.parametrize("status", [Status.NEW, Status.DISCARDED, Status.OVER_BUDGET])
    def test_other_statuses_take_the_new_text_and_stay(self, store: Store, status: Status) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        in_status(store, job_id, status)
        entries = len(store.get_job(job_id).history)
        changed = GREENHOUSE.model_copy(update={"compensation": "EUR 80K"})
        assert store.upsert_posting(changed, LATER).outcome == "updated"
        job = store.get_job(job_id)
        assert (job.status, job.compensation, len(job.history)) == (status, "EUR 80K", entries)

    def test_each_source_keeps_its_own_version(self, store: Store) -> None:
        store.upsert_jobs([GREENHOUSE, ASHBY], NOW)
        in_status(store, GREENHOUSE.id, Status.READY)
        changed = ASHBY.model_copy(update={"description": "Ashby's newer text."})
        assert store.upsert_posting(changed, LATER).outcome == "requeued"
        job = store.get_job(GREENHOUSE.id)
        assert job.description == "Ashby's newer text."  # the latest version seen anywhere
        assert (job.source, job.sources[1].changed_at, job.sources[0].changed_at) == (
            GREENHOUSE.source, LATER, NOW,
        )  # fmt: skip
        # The other board's unchanged copy is no change: no flip-flop between versions.
        assert store.upsert_posting(GREENHOUSE, LATER + DAY).outcome == "unchanged"
        assert store.get_job(GREENHOUSE.id).description == "Ashby's newer text."

    def test_the_apply_url_and_posting_date_are_no_content_change(self, store: Store) -> None:
        store.upsert_posting(ASHBY, NOW)
        moved = ASHBY.model_copy(update={"apply_url": "https://x/apply", "posted_at": LATER})
        assert store.upsert_posting(moved, LATER).outcome == "unchanged"


class TestHistory:
    def test_found_then_each_change_with_its_note(self, store: Store) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        in_status(store, job_id, Status.READY)
        store.set_status(job_id, Status.APPLIED, LATER, note="via referral")
        store.set_status(job_id, Status.APPLIED, LATER)  # same status, nothing to note: no entry
        history = store.get_job(job_id).history
        assert [(h.previous, h.status, h.note) for h in history] == [
            (None, Status.NEW, "found on greenhouse:nimbus"),
            (Status.PROCESSING, Status.READY, None),
            (Status.READY, Status.APPLIED, "via referral"),
        ]
        assert [h.at for h in history] == [NOW, NOW, LATER]

    def test_a_backdated_application_takes_the_date(self, store: Store) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        sent = NOW - 10 * DAY  # sent before applyflow knew the job
        job = store.set_status(job_id, Status.APPLIED, NOW, at=sent, note="sent by email")
        assert (job.applied_at, job.status_changed_at) == (sent, sent)
        entry = job.history[-1]
        assert (entry.at, entry.recorded_at, entry.note) == (sent, NOW, "sent by email")
        # Marking it again with another date corrects the date.
        job = store.set_status(job_id, Status.APPLIED, NOW, at=sent + DAY)
        assert job.applied_at == sent + DAY

    def test_a_date_in_the_future_is_refused(self, store: Store) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        with pytest.raises(InvalidDate, match="is in the future"):
            store.set_status(job_id, Status.APPLIED, NOW, at=NOW + timedelta(minutes=1))
        job = store.get_job(job_id)
        assert (job.status, len(job.history)) == (Status.NEW, 1)

    def test_an_interview_before_the_application_is_refused(self, store: Store) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        store.set_status(job_id, Status.APPLIED, NOW, at=NOW - 3 * DAY)
        with pytest.raises(InvalidDate, match="before the application"):
            store.set_status(job_id, Status.INTERVIEW, NOW, at=NOW - 4 * DAY)
        job = store.set_status(job_id, Status.INTERVIEW, NOW, at=NOW - 2 * DAY)
        assert (job.applied_at, job.status_changed_at) == (NOW - 3 * DAY, NOW - 2 * DAY)

    def test_a_long_note_is_refused(self, store: Store) -> None:
        job_id = store.upsert_posting(GREENHOUSE, NOW).job_id
        with pytest.raises(ValueError, match="at most 500"):
            store.set_status(job_id, Status.APPLIED, NOW, note="x" * 501)
        assert store.get_job(job_id).status == Status.NEW


class TestFollowups:
    def test_quiet_applications_oldest_first(self, store: Store) -> None:
        ids = {}
        for name, days_ago, status in [
            ("quiet", 9, Status.APPLIED),
            ("quieter", 20, Status.INTERVIEW),
            ("recent", 3, Status.APPLIED),
            ("offered", 30, Status.OFFER),  # nothing to chase
            ("ready", 30, Status.READY),  # never sent
        ]:
            job_id = store.upsert_posting(make_posting(title=name), NOW - 40 * DAY).job_id
            if status == Status.READY:
                in_status(store, job_id, status)
                continue
            store.set_status(job_id, Status.APPLIED, NOW, at=NOW - (days_ago + 1) * DAY)
            store.set_status(job_id, status, NOW, at=NOW - days_ago * DAY)
            ids[name] = job_id
        due = store.list_followups(NOW - 7 * DAY)
        assert [j.title for j in due] == ["quieter", "quiet"]
        assert [j.title for j in store.list_followups(NOW - 7 * DAY, limit=1)] == ["quieter"]
        assert store.list_followups(NOW - 30 * DAY) == []
        # A status change resets the clock.
        store.set_status(ids["quiet"], Status.INTERVIEW, NOW)
        assert [j.title for j in store.list_followups(NOW - 7 * DAY)] == ["quieter"]
