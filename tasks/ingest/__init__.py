"""Ingest readers: files, Greenhouse and Lever, each record normalised to a ``JobPosting``.

The public surface is here; ``sources`` dispatches one SOURCE, ``files`` and ``boards`` read
them, ``postings`` normalises records and describes each rejection.
"""

from tasks.ingest.files import FILE_SUFFIXES, MAX_FILE_BYTES, read_file
from tasks.ingest.postings import Rejection, SourceBatch, posting_from_record
from tasks.ingest.sources import expand_sources, read_source, read_source_task

__all__ = [
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
