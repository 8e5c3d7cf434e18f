"""Give mongomock the single-document write atomicity a real MongoDB server has.

mongomock is not atomic under threads: ``Collection._find_and_modify`` finds the matching
document, then updates it by ``_id`` alone (the original filter is not re-checked), and
``_update`` applies ``$inc``/``$set`` to the stored dict in place. Two threads can therefore
both pass a ``find_one_and_update`` filter (8 threads claiming 100 jobs on plain mongomock hand
out ~150 claims) or lose an increment. A real server runs each single-document write
atomically, and that is the only guarantee MongoStore relies on. Holding one process-wide lock
around mongomock's write primitives gives tests that same guarantee, nothing more: reads are
not locked and multi-document sequences still interleave.
"""

from __future__ import annotations

import threading
from typing import Any

import mongomock.collection

_LOCK = threading.RLock()  # re-entrant: _find_and_modify calls _update / _delete
_WRITES = ("_insert", "_update", "_delete", "_find_and_modify")


def make_writes_atomic() -> None:
    """Serialise mongomock's write primitives (idempotent; process-wide, tests only)."""
    cls = mongomock.collection.Collection
    for name in _WRITES:
        original = getattr(cls, name)
        if getattr(original, "_applyflow_atomic", False):
            continue

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return _original(self, *args, **kwargs)

        locked._applyflow_atomic = True  # type: ignore[attr-defined]
        setattr(cls, name, locked)
