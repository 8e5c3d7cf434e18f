"""A pymongo client wrapper that counts every write and can fail one of them: the injected fault.

``MongoStore(url, client=FaultyClient(real_or_mongomock_client, faults))``: the store's code runs
unchanged on mongomock or a real server; ``faults.arm(k, "before")`` stops it just before its
k-th write (a killed process), ``faults.arm(k, "after")`` lets the k-th write land and then
raises (a network error after the server applied it). Either way pymongo's ``AutoReconnect``
reaches the store, as a dropped connection would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pymongo.errors import AutoReconnect

WRITES = frozenset(
    {
        "insert_one",
        "insert_many",
        "update_one",
        "update_many",
        "replace_one",
        "delete_one",
        "delete_many",
        "find_one_and_update",
        "find_one_and_replace",
        "find_one_and_delete",
        "bulk_write",
    }
)
Mode = Literal["before", "after"]


class Faults:
    """The writes seen since the last ``arm`` and the one to fail."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.fail_at: int | None = None
        self.mode: Mode = "before"

    def arm(self, at: int | None, mode: Mode = "before") -> None:
        self.writes, self.fail_at, self.mode = [], at, mode

    def write(self, name: str, call: Callable[[], Any]) -> Any:
        index = len(self.writes)
        self.writes.append(name)
        failing = index == self.fail_at
        if failing and self.mode == "before":
            raise AutoReconnect(f"injected: connection lost before write {index} ({name})")
        result = call()
        if failing:
            raise AutoReconnect(f"injected: connection lost after write {index} ({name})")
        return result


def _is_collection(value: Any) -> bool:
    return type(value).__name__ == "Collection" and hasattr(value, "find_one")


class FaultyCollection:
    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner, self._faults = inner, faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            return self._faults.write(f"{self._inner.name}.{name}", lambda: attr(*args, **kwargs))

        return write


class FaultyDatabase:
    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner, self._faults = inner, faults

    def __getitem__(self, name: str) -> FaultyCollection:
        return FaultyCollection(self._inner[name], self._faults)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        return FaultyCollection(attr, self._faults) if _is_collection(attr) else attr


class FaultyClient:
    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner, self._faults = inner, faults

    def get_database(self, name: str, **options: Any) -> FaultyDatabase:
        return FaultyDatabase(self._inner.get_database(name, **options), self._faults)

    def __getitem__(self, name: str) -> FaultyDatabase:
        return self.get_database(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
