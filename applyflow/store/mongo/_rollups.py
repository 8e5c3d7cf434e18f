"""The MongoDB store's rollups for the metrics: ``usage_totals`` (one document per provider,
model and layer) and ``layer_stats`` (one per layer: a count per duration bucket ``b<i>``,
``micros`` and ``failures``).

Each write that changes a usage or progress row ``$inc``s its rollup right after it, so a
scrape reads a few documents. Without multi-document transactions a process that dies between
the two writes leaves its rollup one row short; ``build_rollups`` counts the rows a store held
before it had rollups, once per database.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bson.int64 import Int64
from pymongo.errors import DuplicateKeyError

from applyflow.models import TOKEN_CLASSES
from applyflow.store.runs import duration_bucket

_MARKER = "rollups"
_SUMS = ("input_tokens", "output_tokens", *TOKEN_CLASSES, "cost_nanos")


def usage_key(provider: str, model: str, layer: str | None) -> dict[str, str]:
    return {"provider": provider, "model": model, "layer": layer or ""}


def add_usage(db: Any, key: dict[str, str], inc: dict[str, int]) -> None:
    """``$inc`` one usage total, created on first use (a lost creation race retries once)."""
    update = {"$inc": {name: Int64(value) for name, value in inc.items()}}
    for attempt in range(2):
        try:
            db.usage_totals.update_one(key, update, upsert=True)
            return
        except DuplicateKeyError:
            if attempt:
                raise


def usage_inc(doc: dict[str, Any]) -> dict[str, int]:
    """What one stored usage row adds to its total (a class it lacks adds nothing)."""
    return {"calls": 1, **{name: int(doc.get(name) or 0) for name in _SUMS}}


def progress_share(doc: dict[str, Any] | None, sign: int) -> Counter[str]:
    """What one progress row adds to its layer's rollup (``sign`` -1: takes away)."""
    share: Counter[str] = Counter()
    if doc is None:
        return share
    duration = doc.get("duration_s")
    if doc.get("status") == "completed" and duration is not None:
        share[f"b{duration_bucket(duration)}"] += sign
        share["micros"] += sign * round(duration * 1_000_000)
    elif doc.get("status") == "failed":
        share["failures"] += sign
    return share


def progress_delta(old: dict[str, Any] | None, new: dict[str, Any]) -> Counter[str]:
    """The change to a layer's rollup when row ``old`` (None: none yet) becomes ``new``."""
    delta = progress_share(old, -1)
    delta.update(progress_share(new, 1))  # update(), not +: a Counter sum drops negatives
    return delta


def add_progress(db: Any, layer: str, share: Counter[str]) -> None:
    inc = {name: Int64(value) for name, value in share.items() if value}
    if inc:
        db.layer_stats.update_one({"_id": layer}, {"$inc": inc}, upsert=True)


def build_rollups(db: Any) -> None:
    """Count the usage and progress rows stored before this database had rollups, once.

    The first process to open the database claims the marker and counts the rows older than
    that moment (later ones are counted by their writers). Exact when no older applyflow
    writes during the upgrade.
    """
    if db.meta.find_one({"_id": _MARKER}) is not None:
        return
    cutoff = datetime.now(UTC)
    try:
        db.meta.insert_one({"_id": _MARKER, "at": cutoff})
    except DuplicateKeyError:
        return  # another process is counting them
    group = {
        "_id": {"provider": "$provider", "model": "$model", "layer": "$layer"},
        "calls": {"$sum": 1},
        **{name: {"$sum": f"${name}"} for name in _SUMS},
    }
    for row in db.usage.aggregate([{"$match": {"at": {"$lt": cutoff}}}, {"$group": group}]):
        key = row.pop("_id")
        add_usage(db, usage_key(key["provider"], key["model"], key.get("layer")), row)
    shares: dict[str, Counter[str]] = {}
    old = {"updated_at": {"$lt": cutoff}, "status": {"$in": ["completed", "failed"]}}
    for doc in db.progress.find(old, {"layer": 1, "status": 1, "duration_s": 1}):
        shares.setdefault(doc["layer"], Counter()).update(progress_share(doc, 1))
    for layer, share in shares.items():
        add_progress(db, layer, share)
