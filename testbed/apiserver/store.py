"""Storage as etcd and the watch cache provide it: one global revision, per-resource tables of
serialized objects, a bounded history of changes and the watchers that follow them.

Objects are kept as compact JSON bytes plus the few values that selectors need, so that 50k pods
cost tens of megabytes and a list is a join of byte strings.
"""

from __future__ import annotations

import asyncio
import bisect
import json
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from testbed.apiserver.selectors import (
    EVERYTHING,
    FieldRequirement,
    LabelSelector,
    fields_match,
)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True, eq=False)
class Record:
    """One stored version of one object; never modified once created."""

    namespace: str  # "" for cluster-scoped objects
    name: str
    version: int  # metadata.resourceVersion
    api_version: str  # as stored; a read through another served version rewrites it
    labels: Mapping[str, str]
    fields: tuple[str, ...]  # values of the resource's field labels, in their order
    raw: bytes

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def load(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.raw)
        return loaded

    def raw_as(self, api_version: str) -> bytes:
        if api_version == self.api_version:
            return self.raw
        obj = self.load()
        obj["apiVersion"] = api_version
        return dump(obj)


@dataclass(slots=True, eq=False)
class Change:
    type: str  # ADDED, MODIFIED or DELETED
    record: Record  # the new state; for DELETED the last state, at the deletion's revision
    previous: Record | None


@dataclass(frozen=True, slots=True)
class Filter:
    """Which objects a list or a watch wants."""

    namespace: str | None = None  # None: every namespace
    labels: LabelSelector = EVERYTHING
    fields: tuple[FieldRequirement, ...] = ()

    def matches(self, record: Record) -> bool:
        if self.namespace is not None and record.namespace != self.namespace:
            return False
        if not self.labels.empty and not self.labels.matches(record.labels):
            return False
        return not self.fields or fields_match(self.fields, record.fields)


class Watcher:
    """The events one watch stream still has to send, filtered as a real watch filters them."""

    def __init__(self, selection: Filter, capacity: int) -> None:
        self.selection = selection
        self.capacity = capacity
        self.pending: deque[tuple[str, Record]] = deque()
        self.wakeup = asyncio.Event()
        self.overflowed = False

    def offer(self, change: Change) -> None:
        """Turn a change into the event this watcher sees, if any (objects that leave the
        selection are DELETED for it, objects that enter it are ADDED)."""
        selection = self.selection
        now = selection.matches(change.record)
        if change.type == MODIFIED:
            before = change.previous is not None and selection.matches(change.previous)
            if now and before:
                self.push(MODIFIED, change.record)
            elif now:
                self.push(ADDED, change.record)
            elif before:
                self.push(DELETED, change.record)
        elif now:
            self.push(change.type, change.record)

    def push(self, kind: str, record: Record) -> None:
        if len(self.pending) >= self.capacity:
            self.overflowed = True  # too slow a reader: the stream ends and the client re-watches
        else:
            self.pending.append((kind, record))
        self.wakeup.set()


class Table:
    """The objects of one resource (all its served versions), their changes and watchers."""

    def __init__(self, history_size: int) -> None:
        self.objects: dict[str, dict[str, Record]] = {}
        self.history: deque[Change] = deque()
        self.history_size = max(1, history_size)
        self.floor = 0  # every change after this revision is still in the history
        self.watchers: set[Watcher] = set()
        self._sorted_keys: list[tuple[str, str]] | None = None

    def __len__(self) -> int:
        return sum(len(names) for names in self.objects.values())

    def get(self, namespace: str, name: str) -> Record | None:
        names = self.objects.get(namespace)
        return None if names is None else names.get(name)

    def in_namespace(self, namespace: str) -> Iterator[Record]:
        yield from list(self.objects.get(namespace, {}).values())

    def apply(self, change: Change) -> None:
        record = change.record
        names = self.objects.setdefault(record.namespace, {})
        if change.type == DELETED:
            names.pop(record.name, None)
            if not names:
                del self.objects[record.namespace]
            self._sorted_keys = None
        else:
            if record.name not in names:
                self._sorted_keys = None
            names[record.name] = record
        if len(self.history) >= self.history_size:
            self.floor = self.history.popleft().record.version
        self.history.append(change)
        for watcher in self.watchers:
            watcher.offer(change)

    def changes_since(self, version: int) -> list[Change] | None:
        """The changes after ``version``, or None when the history no longer reaches back."""
        if version < self.floor:
            return None
        newer: list[Change] = []
        for change in reversed(self.history):
            if change.record.version <= version:
                break
            newer.append(change)
        newer.reverse()
        return newer

    def sorted_keys(self) -> list[tuple[str, str]]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(
                (namespace, name) for namespace, names in self.objects.items() for name in names
            )
        return self._sorted_keys

    def _range(self, namespace: str | None, after: tuple[str, str] | None) -> tuple[int, int]:
        keys = self.sorted_keys()
        if namespace is not None:
            start = bisect.bisect_left(keys, (namespace, ""))
            stop = bisect.bisect_left(keys, (namespace + "\x00", ""))
        else:
            start, stop = 0, len(keys)
        if after is not None:
            start = max(start, bisect.bisect_right(keys, after))
        return start, stop

    def count_after(self, namespace: str | None, after: tuple[str, str] | None) -> int:
        start, stop = self._range(namespace, after)
        return max(0, stop - start)

    def scan(self, namespace: str | None, after: tuple[str, str] | None) -> Iterator[Record]:
        """Records in (namespace, name) order, optionally only one namespace, after a key."""
        start, stop = self._range(namespace, after)
        keys = self.sorted_keys()
        for index in range(start, stop):
            record = self.get(*keys[index])
            if record is not None:
                yield record


class Store:
    """Every table, under one revision counter as etcd keeps it."""

    def __init__(self, history_size: int = 10_000, watch_capacity: int = 100_000) -> None:
        self.revision = 0
        self.history_size = history_size
        self.watch_capacity = watch_capacity
        self.tables: dict[str, Table] = {}

    def table(self, group_resource: str) -> Table:
        table = self.tables.get(group_resource)
        if table is None:
            table = self.tables[group_resource] = Table(self.history_size)
        return table

    def drop_table(self, group_resource: str) -> None:
        self.tables.pop(group_resource, None)

    def write(
        self,
        group_resource: str,
        obj: dict[str, Any],
        fields: Sequence[str],
        previous: Record | None,
        *,
        deleted: bool = False,
    ) -> Record:
        """Store ``obj`` at the next revision (setting its metadata.resourceVersion)."""
        self.revision += 1
        metadata = obj["metadata"]
        metadata["resourceVersion"] = str(self.revision)
        labels = metadata.get("labels") or {}
        if previous is not None and previous.labels == labels:
            labels = previous.labels
        record = Record(
            namespace=metadata.get("namespace") or "",
            name=metadata["name"],
            version=self.revision,
            api_version=obj.get("apiVersion", ""),
            labels=labels,
            fields=tuple(fields),
            raw=dump(obj),
        )
        kind = DELETED if deleted else MODIFIED if previous is not None else ADDED
        self.table(group_resource).apply(Change(kind, record, previous))
        return record

    def watch(self, group_resource: str, selection: Filter) -> Watcher:
        watcher = Watcher(selection, self.watch_capacity)
        self.table(group_resource).watchers.add(watcher)
        return watcher

    def unwatch(self, group_resource: str, watcher: Watcher) -> None:
        table = self.tables.get(group_resource)
        if table is not None:
            table.watchers.discard(watcher)
