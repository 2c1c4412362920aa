"""The state of a fake cluster's registry: its resource types, stored objects, lists and
watches, and the bookkeeping every write goes through (owners, disruption budgets, CRDs)."""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from testbed.apiserver import errors
from testbed.apiserver.crds import resource_types
from testbed.apiserver.disruption import DisruptionBudgets, PdbRecord, pod_is_healthy
from testbed.apiserver.errors import ApiError
from testbed.apiserver.resources import (
    BUILTIN_TYPES,
    CRDS,
    PDBS,
    PODS,
    ResourceType,
)
from testbed.apiserver.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from testbed.apiserver.store import Filter, Record, Store, Watcher, dump

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListResult:
    records: list[Record]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass(slots=True)
class WatchStart:
    watcher: Watcher | None  # None: the requested version is too old (410 Expired)
    group_resource: str


def _owner_uids(obj: Mapping[str, Any]) -> tuple[str, ...]:
    references = obj["metadata"].get("ownerReferences") or ()
    return tuple(
        str(ref["uid"]) for ref in references if isinstance(ref, Mapping) and ref.get("uid")
    )


class RegistryState:
    """Resource types, objects, reads, lists, watches and the commit of every write."""

    def __init__(
        self,
        *,
        history_size: int = 10_000,
        watch_capacity: int = 100_000,
        clock: Callable[[], float] = time.time,
        require_namespaces: bool = True,
        seed: int | None = None,
    ) -> None:
        self.store = Store(history_size, watch_capacity)
        self.clock = clock
        self.require_namespaces = require_namespaces
        self.budgets = DisruptionBudgets()
        self._random = random.Random(seed)
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._owned: dict[str, set[tuple[str, str, str]]] = {}  # owner uid -> dependents
        self._owners_of: dict[tuple[str, str, str], tuple[str, ...]] = {}
        for rtype in BUILTIN_TYPES:
            self.register(rtype)
        self._start()

    def _start(self) -> None:
        """The objects a cluster starts with (a subclass that can write creates them)."""

    def register(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    @property
    def types(self) -> list[ResourceType]:
        return list(self._types.values())

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rtype = self._types.get((group, version, plural))
        if rtype is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return rtype

    def find(self, name: str) -> ResourceType:
        """``pods``, ``poddisruptionbudgets.policy``, ``virtualmachines.kubevirt.io``: the first
        served version (for calls from Python rather than HTTP)."""
        plural, _, group = name.partition(".")
        for rtype in self._types.values():
            if rtype.plural == plural and rtype.group == group:
                return rtype
        raise ApiError(404, "NotFound", f"the server does not serve the resource {name!r}")

    def _key(self, rtype: ResourceType, namespace: str | None) -> str:
        if rtype.namespaced and not namespace:
            raise errors.bad_request(f"{rtype.group_resource} are namespaced: name a namespace")
        return (namespace or "") if rtype.namespaced else ""

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Record:
        record = self.store.table(rtype.group_resource).get(self._key(rtype, namespace), name)
        if record is None:
            raise errors.not_found(rtype.group_resource, name)
        return record

    def selection(
        self, rtype: ResourceType, namespace: str | None, label_selector: str, field_selector: str
    ) -> Filter:
        try:
            return Filter(
                namespace=namespace if rtype.namespaced else None,
                labels=parse_label_selector(label_selector),
                fields=parse_field_selector(field_selector, rtype.field_names),
            )
        except SelectorError as error:
            raise errors.bad_request(str(error)) from error

    def list_objects(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> ListResult:
        selection = self.selection(rtype, namespace, label_selector, field_selector)
        table = self.store.table(rtype.group_resource)
        current = self.store.revision
        after: tuple[str, str] | None = None
        version = current
        if continue_token:
            version, after = self._decode_continue(continue_token)
            if version < table.floor:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
        elif resource_version not in ("", "0"):
            requested = self._parse_version(resource_version)
            if resource_version_match == "Exact" and requested != current:
                raise errors.expired(f"too old resource version: {requested} ({current})")
            if requested > current:
                raise ApiError(
                    504,
                    "Timeout",
                    f"Too large resource version: {requested}, current: {current}",
                    details={"causes": [{"reason": "ResourceVersionTooLarge"}]},
                )
        records: list[Record] = []
        token = ""
        remaining: int | None = None
        for record in table.scan(selection.namespace, after):
            if not selection.matches(record):
                continue
            if limit > 0 and len(records) == limit:
                token = self._encode_continue(version, records[-1].key)
                if selection.labels.empty and not selection.fields:
                    remaining = table.count_after(selection.namespace, records[-1].key)
                break
            records.append(record)
        return ListResult(records, version, token, remaining)

    @staticmethod
    def _parse_version(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise errors.bad_request(f"invalid resource version {text!r}") from None

    @staticmethod
    def _encode_continue(version: int, key: tuple[str, str]) -> str:
        payload = dump({"v": "meta.k8s.io/v1", "rv": version, "start": list(key)})
        return base64.urlsafe_b64encode(payload).decode()

    @staticmethod
    def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
        try:
            payload = json.loads(base64.urlsafe_b64decode(token.encode()))
            namespace, name = payload["start"]
            return int(payload["rv"]), (str(namespace), str(name))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise errors.bad_request("continue key is not valid") from None

    def open_watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
    ) -> WatchStart:
        """A watcher preloaded with what happened after ``resource_version`` (or, without one,
        ADDED events for the current objects) and then registered for what comes next."""
        selection = self.selection(rtype, namespace, label_selector, field_selector)
        key = rtype.group_resource
        table = self.store.table(key)
        watcher = Watcher(selection, self.store.watch_capacity)
        if resource_version in ("", "0"):
            for record in table.scan(selection.namespace, None):
                if selection.matches(record):
                    watcher.pending.append(("ADDED", record))
        else:
            changes = table.changes_since(self._parse_version(resource_version))
            if changes is None:
                return WatchStart(None, key)
            for change in changes:
                watcher.offer(change)
            watcher.overflowed = False
        table.watchers.add(watcher)
        return WatchStart(watcher, key)

    def close_watch(self, start: WatchStart) -> None:
        if start.watcher is not None:
            self.store.unwatch(start.group_resource, start.watcher)

    def _timestamp(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))

    def _storage_types(self) -> list[ResourceType]:
        seen: dict[str, ResourceType] = {}
        for rtype in self._types.values():
            seen.setdefault(rtype.group_resource, rtype)
        return list(seen.values())

    def _commit(
        self,
        rtype: ResourceType,
        obj: JsonObject,
        previous: Record | None,
        *,
        deleted: bool = False,
    ) -> Record:
        record = self.store.write(
            rtype.group_resource, obj, rtype.field_values(obj), previous, deleted=deleted
        )
        self._index_owners(rtype, obj, record, deleted)
        if rtype is PODS:
            healthy = not deleted and pod_is_healthy(obj)
            labels = None if deleted else record.labels
            for budget in self.budgets.pod_changed(record.namespace, record.name, labels, healthy):
                self._refresh_budget(budget)
        elif rtype.group_resource == PDBS.group_resource:
            self._track_budget(obj, deleted)
        elif rtype.group_resource == CRDS.group_resource:
            self._serve_crd(obj, deleted)
        return record

    def _index_owners(
        self, rtype: ResourceType, obj: JsonObject, record: Record, deleted: bool
    ) -> None:
        key = (rtype.group_resource, record.namespace, record.name)
        for uid in self._owners_of.pop(key, ()):
            dependents = self._owned.get(uid)
            if dependents is not None:
                dependents.discard(key)
        if deleted:
            return
        owners = _owner_uids(obj)
        if owners:
            self._owners_of[key] = owners
            for uid in owners:
                self._owned.setdefault(uid, set()).add(key)

    def _track_budget(self, pdb: JsonObject, deleted: bool) -> None:
        metadata = pdb["metadata"]
        namespace, name = metadata.get("namespace", ""), metadata["name"]
        if deleted:
            self.budgets.remove_budget(namespace, name)
            return
        known = self.budgets.by_namespace.get(namespace, {}).get(name)
        spec = pdb.get("spec") or {}
        if known is None or known.spec != spec:
            pods = self.store.table(PODS.group_resource).in_namespace(namespace)
            known = self.budgets.set_budget(pdb, pods)
        self._refresh_budget(known)

    def _refresh_budget(self, budget: PdbRecord) -> None:
        record = self.store.table(PDBS.group_resource).get(budget.namespace, budget.name)
        if record is None:
            return
        pdb = record.load()
        generation = int(pdb["metadata"].get("generation", 1))
        status = budget.status(generation, pdb.get("status"), self._timestamp())
        if pdb.get("status") != status:
            pdb["status"] = status
            self._commit(PDBS, pdb, record)

    def _serve_crd(self, crd: JsonObject, deleted: bool) -> None:
        served = resource_types(crd)
        if deleted:
            for rtype in served:
                self._types.pop((rtype.group, rtype.version, rtype.plural), None)
            if served:
                self.store.drop_table(served[0].group_resource)
            return
        for rtype in served:
            self.register(rtype)
