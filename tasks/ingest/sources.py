"""One SOURCE read: a file or folder, or a job board as ``KIND:NAME`` (``BOARDS``: greenhouse,
lever, ashby, smartrecruiters, recruitee, workable); and the Prefect task the ingest flow runs
per source.

Each source gives a ``SourceBatch``: the postings it could normalise and a ``Rejection``
(source, line/row/item, reason) for each record it could not. A source that cannot be read at
all (missing file, binary data, HTTP error after retries) raises ``InputError``.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE

from applyflow.errors import InputError
from applyflow.settings import Settings, get_settings
from tasks.ingest.ashby import ASHBY
from tasks.ingest.boards import GREENHOUSE, LEVER, Board, read_board
from tasks.ingest.files import FILE_SUFFIXES, read_file
from tasks.ingest.postings import SourceBatch
from tasks.ingest.recruitee import RECRUITEE
from tasks.ingest.smartrecruiters import SMARTRECRUITERS
from tasks.ingest.workable import WORKABLE

__all__ = ["BOARDS", "expand_sources", "read_source", "read_source_task"]

# Job boards by SOURCE scheme, as `limits` keys its storages.
BOARDS: dict[str, Board] = {
    board.kind: board for board in (GREENHOUSE, LEVER, ASHBY, SMARTRECRUITERS, RECRUITEE, WORKABLE)
}


def read_source(
    spec: str,
    *,
    settings: Settings,
    base_url: str | None = None,
    client: httpx.Client | None = None,
) -> SourceBatch:
    """Read one SOURCE: a file path or ``KIND:NAME`` for a job board in ``BOARDS``."""
    kind, sep, name = spec.partition(":")
    # Job boards by the scheme before ``:``; anything else is a file path.
    board = BOARDS.get(kind) if sep else None
    if board is None:
        return read_file(spec)
    if not name:
        raise InputError(spec, None, f"expected {kind}:NAME")
    if client is not None:
        return read_board(board, name, settings=settings, base_url=base_url, client=client)
    with httpx.Client(headers={"User-Agent": "applyflow"}, follow_redirects=True) as own:
        return read_board(board, name, settings=settings, base_url=base_url, client=own)


def expand_sources(sources: list[str]) -> list[str]:
    """A folder stands for its .json, .jsonl and .csv files (sorted); other sources pass through."""
    out: list[str] = []
    for spec in sources:
        path = Path(spec)
        if ":" not in spec.split("/")[0] and path.is_dir():
            out.extend(str(p) for p in sorted(path.iterdir()) if p.suffix.lower() in FILE_SUFFIXES)
        else:
            out.append(spec)
    return out


# No task retries: HTTP sources retry transient errors themselves, honouring Retry-After, and a
# file read does not get better by trying again.
@task(
    name="read-source", task_run_name="read-{source}", cache_policy=NO_CACHE, persist_result=False
)
def read_source_task(source: str, base_url: str | None = None) -> SourceBatch:
    """Read and normalise one source."""
    return read_source(source, settings=get_settings(), base_url=base_url)
