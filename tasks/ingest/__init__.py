"""Ingest readers: files and six job boards, each record normalised to a ``JobPosting``.

The public surface is here; ``sources`` dispatches one SOURCE (``BOARDS``, the registry by
scheme), ``files`` reads files, ``boards`` holds the ``Board`` and its guarded GET plus
Greenhouse and Lever, one module per other board (``ashby``, ``smartrecruiters``,
``recruitee``, ``workable``), and ``postings`` normalises records and describes each rejection.
"""

from tasks.ingest.files import FILE_SUFFIXES, MAX_FILE_BYTES, read_file
from tasks.ingest.postings import Rejection, SourceBatch, posting_from_record
from tasks.ingest.sources import BOARDS, expand_sources, read_source, read_source_task

__all__ = [
    "BOARDS",
    "FILE_SUFFIXES",
    "MAX_FILE_BYTES",
    "Rejection",
    "SourceBatch",
    "expand_sources",
    "posting_from_record",
    "read_file",
    "read_source",
    "read_source_task",
]
