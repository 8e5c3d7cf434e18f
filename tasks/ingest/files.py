"""File sources: JSON (a list, or ``{"jobs": [...]}``), JSONL and CSV.

A record that cannot be read becomes a ``Rejection`` with its line/row/item; a file that cannot
be read at all (missing, too large, binary) raises ``InputError``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from applyflow.errors import InputError
from tasks.ingest.postings import TITLE_KEYS, SourceBatch, clean_text, collect

__all__ = ["FILE_SUFFIXES", "MAX_FILE_BYTES", "read_file"]

MAX_FILE_BYTES = 64 * 1024 * 1024
FILE_SUFFIXES = (".json", ".jsonl", ".csv")
# A 5 MB description must reach the validator (and be rejected there), not break the reader.
csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
# Python's json module recurses per nesting level; hostile input must not crash the reader.
_TOO_DEEP = "invalid JSON: nested too deeply"


def _decode(raw: bytes, source: str, where: str | None) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            source, where, f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def _records_json(raw: bytes, source: str) -> Iterator[tuple[str, Any]]:
    text = _decode(raw, source, None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(source, None, _TOO_DEEP) from None
    if isinstance(data, dict):
        data = next((data[k] for k in ("jobs", "postings") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise InputError(source, None, 'expected a JSON list of postings (or {"jobs": [...]})')
    for index, item in enumerate(data, start=1):
        yield f"item {index}", item


def _records_jsonl(raw: bytes, source: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(raw.splitlines(), start=1):
        where = f"line {number}"
        if not line.strip():
            continue
        try:
            text = _decode(line, source, where)
            yield where, json.loads(text)
        except InputError as exc:
            yield where, exc
        except json.JSONDecodeError as exc:
            yield where, ValueError(f"invalid JSON: {exc.msg} (column {exc.colno})")
        except RecursionError:
            yield where, ValueError(_TOO_DEEP)


def _records_csv(raw: bytes, source: str) -> Iterator[tuple[str, Any]]:
    # Decode leniently, then reject just the rows that held bad bytes.
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    # strict: an unclosed quote is an unreadable row, not a field that swallows the rows after it.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [clean_text(h) for h in next(reader)]
    except StopIteration:
        raise InputError(source, None, "empty CSV file") from None
    except csv.Error as exc:
        raise InputError(source, "row 1", f"unreadable CSV header: {exc}") from None
    if not any(h in TITLE_KEYS for h in header):
        raise InputError(source, "row 1", f"CSV header has no title column (got {header[:10]})")
    row_number = 1
    while True:
        row_number += 1
        where = f"row {row_number}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield where, ValueError(f"unreadable CSV row: {exc}")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
            yield where, ValueError("not UTF-8 text")
            continue
        if len(row) > len(header):
            yield where, ValueError(f"{len(row)} fields but the header has {len(header)}")
            continue
        yield where, dict(zip(header, row, strict=False))


_READERS: dict[str, Callable[[bytes, str], Iterator[tuple[str, Any]]]] = {
    ".json": _records_json,
    ".jsonl": _records_jsonl,
    ".csv": _records_csv,
}


def read_file(path: str | Path) -> SourceBatch:
    """Postings from a ``.json`` (a list), ``.jsonl`` or ``.csv`` file."""
    path = Path(path)
    label = f"file:{path.name}"
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            str(path), None, f"unknown file type; use one of {', '.join(FILE_SUFFIXES)}"
        )
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                str(path),
                None,
                f"file is {size // 2**20} MB; the limit is {MAX_FILE_BYTES // 2**20} MB",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), None, f"cannot read file: {exc.strerror or exc}") from None
    if b"\x00" in raw[:8192] and path.suffix.lower() != ".jsonl":
        raise InputError(str(path), None, "binary data, not JSON or CSV text")
    batch = SourceBatch(label)
    try:
        return collect(batch, reader(raw, label))
    except InputError as exc:
        raise InputError(str(path), exc.where, exc.reason) from None
