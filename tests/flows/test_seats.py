"""Job seats: ``job_concurrency`` jobs in their model layers at once; a job's publish (no model
call) overlaps the next job's calls."""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.messages import BaseMessage

from applyflow.models import LayerOutput
from applyflow.runtime import Runtime, use_runtime
from applyflow.store.sqlite import SQLiteStore
from flows.pipeline import process_jobs
from tasks.seats import Seats
from tests.flows.conftest import Env, _title
from tests.scripted import ScriptedOffline

WAIT_S = 60.0


def test_a_taker_waits_for_a_seat_given_up_and_giving_up_twice_frees_one() -> None:
    seats = Seats(1)
    seats.take("a")
    taken = threading.Event()
    second = threading.Thread(target=lambda: (seats.take("b"), taken.set()))
    second.start()
    assert not taken.wait(0.2)  # the only seat is a's
    seats.give_up("a")
    assert taken.wait(WAIT_S)
    second.join(WAIT_S)
    seats.give_up("a")  # a holds none any more: nothing is freed
    assert seats.held() == 1
    seats.give_up("b")
    assert seats.held() == 0


class _Extracts:
    """Titles whose extract call reached the model, and a wait for another job's."""

    def __init__(self) -> None:
        self.titles: set[str] = set()
        self.cond = threading.Condition()

    def seen(self, title: str) -> None:
        with self.cond:
            self.titles.add(title)
            self.cond.notify_all()

    def wait_other(self, title: str) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: bool(self.titles - {title}), WAIT_S)


def test_the_next_job_calls_the_model_while_one_publishes(pipeline_env: Env) -> None:
    pipeline_env.set(job_concurrency=1, min_fit=0)
    ids = pipeline_env.add_jobs(2)
    titles = {job_id: pipeline_env.store.get_job(job_id).title for job_id in ids}
    extracts = _Extracts()
    waited: list[tuple[str, bool]] = []

    class Watched(ScriptedOffline):
        def before(self, layer: str | None, messages: list[BaseMessage]) -> None:
            if layer == "extract":
                extracts.seen(_title(messages))

    class PublishWaitsForTheNextJob(SQLiteStore):
        """Saving a job's publish output (the end of its publish) waits until another job's
        extract call has reached the model: only possible if that job started meanwhile."""

        def save_layer_output(
            self, job_id: str, layer: str, output: LayerOutput, **kw: Any
        ) -> None:
            if layer == "publish" and not waited:
                waited.append((job_id, extracts.wait_other(titles[job_id])))
            super().save_layer_output(job_id, layer, output, **kw)

    runtime = Runtime(
        model_factory=lambda spec, max_tokens: Watched(max_tokens=max_tokens),
        store_factory=PublishWaitsForTheNextJob,
    )
    with use_runtime(runtime):
        summary = process_jobs(limit=2)
    assert [job.status.value for job in summary.jobs] == ["ready", "ready"]
    [(first, overlapped)] = waited
    assert overlapped, "the second job waited for the first one's publish to end"
    assert extracts.titles == set(titles.values())
