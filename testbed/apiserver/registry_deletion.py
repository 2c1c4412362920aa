"""Deletion in a fake cluster: preconditions, finalizers, cascading to dependents and the
life of a terminating namespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from testbed.apiserver import errors
from testbed.apiserver.errors import ApiError
from testbed.apiserver.registry_state import RegistryState
from testbed.apiserver.resources import (
    NAMESPACES,
    PODS,
    ResourceType,
)
from testbed.apiserver.store import Record

JsonObject = dict[str, Any]


class DeletingRegistry(RegistryState):
    """Deletes objects as an API server does."""

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> tuple[Record, bool]:
        """Delete, or start deleting (finalizers pending); returns (last state, removed)."""
        options = options or {}
        previous = self.get(rtype, namespace, name)
        obj = previous.load()
        metadata = obj["metadata"]
        preconditions = options.get("preconditions") or {}
        if not isinstance(preconditions, Mapping):
            raise errors.bad_request("preconditions must be an object")
        wanted_uid = preconditions.get("uid")
        if wanted_uid and wanted_uid != metadata.get("uid"):
            raise errors.conflict(
                rtype.group_resource,
                name,
                f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: "
                f"{metadata.get('uid')}",
            )
        wanted_version = preconditions.get("resourceVersion")
        if wanted_version and str(wanted_version) != str(previous.version):
            raise errors.conflict(
                rtype.group_resource,
                name,
                f"Precondition failed: ResourceVersion in precondition: {wanted_version}, "
                f"ResourceVersion in object meta: {previous.version}",
            )
        policy = options.get("propagationPolicy")
        if options.get("orphanDependents") is True:
            policy = "Orphan"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid(
                "DeleteOptions",
                "",
                [
                    (
                        "propagationPolicy",
                        f"Unsupported value: {policy!r}: supported values: "
                        '"Foreground", "Background", "Orphan"',
                    )
                ],
            )
        if dry_run:
            return previous, not metadata.get("finalizers")
        if rtype is NAMESPACES:
            return self._delete_namespace(obj, previous)
        if metadata.get("finalizers"):
            if metadata.get("deletionTimestamp"):
                return previous, False
            metadata["deletionTimestamp"] = self._timestamp()
            metadata["deletionGracePeriodSeconds"] = 0
            return self._commit(rtype, obj, previous), False
        return self._remove(rtype, obj, previous, cascade=policy != "Orphan"), True

    def delete_collection(
        self,
        rtype: ResourceType,
        namespace: str | None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        options: Mapping[str, Any] | None = None,
        dry_run: bool = False,
    ) -> list[Record]:
        listed = self.list_objects(
            rtype, namespace, label_selector=label_selector, field_selector=field_selector
        )
        results: list[Record] = []
        for record in listed.records:
            try:
                state, _ = self.delete(
                    rtype, record.namespace or None, record.name, options, dry_run=dry_run
                )
            except ApiError as error:
                if error.code != 404:  # removed meanwhile by a cascade
                    raise
                continue
            results.append(state)
        return results

    def _remove(
        self, rtype: ResourceType, obj: JsonObject, previous: Record, *, cascade: bool
    ) -> Record:
        if rtype is PODS:
            obj["metadata"].setdefault("deletionTimestamp", self._timestamp())
            obj["metadata"].setdefault("deletionGracePeriodSeconds", 0)
        record = self._commit(rtype, obj, previous, deleted=True)
        uid = obj["metadata"].get("uid")
        dependents = self._owned.pop(uid, set()) if uid else set()
        if cascade:
            for group_resource, namespace, name in sorted(dependents):
                self._delete_dependent(group_resource, namespace, name)
        if record.namespace:
            self._finish_namespace(record.namespace)
        return record

    def _delete_dependent(self, group_resource: str, namespace: str, name: str) -> None:
        record = self.store.table(group_resource).get(namespace, name)
        rtype = next((t for t in self._types.values() if t.group_resource == group_resource), None)
        if record is None or rtype is None:
            return
        obj = record.load()
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = self._timestamp()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                self._commit(rtype, obj, record)
            return
        self._remove(rtype, obj, record, cascade=True)

    def _delete_namespace(self, obj: JsonObject, previous: Record) -> tuple[Record, bool]:
        name = obj["metadata"]["name"]
        if not obj["metadata"].get("deletionTimestamp"):
            obj["metadata"]["deletionTimestamp"] = self._timestamp()
            obj["status"] = {"phase": "Terminating"}
            previous = self._commit(NAMESPACES, obj, previous)
        for rtype in self._storage_types():
            if rtype.namespaced:
                for record in list(self.store.table(rtype.group_resource).in_namespace(name)):
                    try:
                        self.delete(rtype, name, record.name)
                    except ApiError:
                        continue  # removed meanwhile by a cascade
        final = self.store.table(NAMESPACES.group_resource).get("", name)
        return (final or previous), final is None

    def _finish_namespace(self, namespace: str) -> None:
        """Remove a terminating namespace once nothing is left in it."""
        table = self.store.table(NAMESPACES.group_resource)
        record = table.get("", namespace)
        if record is None or not record.load()["metadata"].get("deletionTimestamp"):
            return
        for rtype in self._storage_types():
            if rtype.namespaced and self.store.table(rtype.group_resource).objects.get(namespace):
                return
        obj = record.load()
        if not obj["metadata"].get("finalizers"):
            self._commit(NAMESPACES, obj, record, deleted=True)
