"""What the API server does with objects: create, read, update, patch, delete (with finalizers,
cascading to dependents), status subresources, eviction under disruption budgets, binding.

Every method raises ``ApiError`` for a request a real server refuses. Write methods return the
stored ``Record`` (``record.load()`` gives the object); reads return records too, so that the
HTTP layer can send their bytes untouched.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from testbed.apiserver import errors
from testbed.apiserver.crds import CrdError, CrdSource, load_crds, resource_types
from testbed.apiserver.disruption import DisruptionBudgets, PdbRecord, pod_is_healthy
from testbed.apiserver.errors import ApiError
from testbed.apiserver.patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from testbed.apiserver.resources import (
    BUILTIN_TYPES,
    CRDS,
    NAMESPACES,
    PDBS,
    PODS,
    ResourceType,
)
from testbed.apiserver.schema import apply_defaults, prune, unknown_fields, validate
from testbed.apiserver.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from testbed.apiserver.store import Filter, Record, Store, Watcher, dump
from testbed.apiserver.validation import Problems, check_metadata, check_object

JsonObject = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


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


def _spec_part(obj: Mapping[str, Any]) -> JsonObject:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _split_problem(problem: str) -> tuple[str, str]:
    path, _, message = problem.partition(": ")
    return path, message


def _crd_status(crd: Mapping[str, Any]) -> JsonObject:
    spec = crd["spec"]
    versions = spec["versions"]
    stored = [v["name"] for v in versions if v.get("storage")] or [versions[0]["name"]]
    return {
        "acceptedNames": spec.get("names", {}),
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
        ],
    }


def _owner_uids(obj: Mapping[str, Any]) -> tuple[str, ...]:
    references = obj["metadata"].get("ownerReferences") or ()
    return tuple(
        str(ref["uid"]) for ref in references if isinstance(ref, Mapping) and ref.get("uid")
    )


class Registry:
    """All resources of one fake cluster; see the module docstring."""

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
        for namespace in INITIAL_NAMESPACES:
            self.create(NAMESPACES, None, {"metadata": {"name": namespace}})

    # -- resource types ------------------------------------------------------------------

    def register(self, rtype: ResourceType) -> None:
        self._types[(rtype.group, rtype.version, rtype.plural)] = rtype

    def register_crd(self, source: CrdSource) -> list[ResourceType]:
        """Create the CRDs in ``source`` (a dict, a YAML file or a directory) and serve them."""
        served: list[ResourceType] = []
        for crd in load_crds(source):
            name = str((crd.get("metadata") or {}).get("name", ""))
            if self.store.table(CRDS.group_resource).get("", name) is None:
                self.create(CRDS, None, crd)
            else:
                self.update(CRDS, None, name, crd)
            served.extend(resource_types(crd))
        return served

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

    # -- reads ---------------------------------------------------------------------------

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

    # -- writes --------------------------------------------------------------------------

    def _timestamp(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))

    def _body(self, rtype: ResourceType, body: Any) -> JsonObject:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body must be a {rtype.kind} object")
        obj = copy.deepcopy(body)
        api_version = obj.setdefault("apiVersion", rtype.api_version)
        kind = obj.setdefault("kind", rtype.kind)
        if api_version != rtype.api_version or kind != rtype.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rtype.api_version}) or the kind ({kind}) is not {rtype.kind}"
            )
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        return obj

    def _namespace_for(self, rtype: ResourceType, namespace: str | None, obj: JsonObject) -> str:
        metadata = obj["metadata"]
        if not rtype.namespaced:
            metadata.pop("namespace", None)
            return ""
        given = metadata.get("namespace")
        if given and namespace and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        namespace = namespace or given
        if not namespace:
            raise errors.bad_request(f"{rtype.group_resource} are namespaced: name a namespace")
        metadata["namespace"] = namespace
        return str(namespace)

    def _require_namespace(self, namespace: str) -> None:
        if not self.require_namespaces:
            return
        record = self.store.table(NAMESPACES.group_resource).get("", namespace)
        if record is None:
            raise errors.not_found("namespaces", namespace)
        if record.load()["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _check(
        self,
        rtype: ResourceType,
        obj: JsonObject,
        old: JsonObject | None,
        field_validation: str,
        warnings: list[str],
    ) -> JsonObject:
        """Validate (raising 422), prune a custom resource, and return the object to store."""
        name = str(obj["metadata"].get("name", ""))
        problems: Problems = check_metadata(rtype, obj["metadata"]) + check_object(rtype, obj, old)
        if rtype.custom and rtype.schema is not None:
            unknown = unknown_fields(obj, rtype.schema)
            if unknown and field_validation == "Strict":
                problems += [
                    (path, f'strict decoding error: unknown field "{path}"') for path in unknown
                ]
                raise errors.invalid(rtype.kind_group, name, problems)
            if field_validation == "Warn":
                warnings.extend(f'unknown field "{path}"' for path in unknown)
            obj = apply_defaults(prune(obj, rtype.schema), rtype.schema)
            problems += [_split_problem(problem) for problem in validate(obj, rtype.schema)]
        if rtype is CRDS:
            try:
                resource_types(obj)
            except CrdError as error:
                problems.append(("spec", str(error)))
        if problems:
            raise errors.invalid(rtype.kind_group, name, problems)
        return obj

    def _default(self, rtype: ResourceType, obj: JsonObject, created: bool) -> None:
        key = rtype.group_resource
        metadata = obj["metadata"]
        if key == "secrets":
            obj.setdefault("type", "Opaque")
            string_data = obj.pop("stringData", None)
            if isinstance(string_data, Mapping):
                data = obj.setdefault("data", {})
                for item, value in string_data.items():
                    data[item] = base64.b64encode(str(value).encode()).decode()
        elif key == "namespaces":
            metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata["name"]
            if created:
                obj["status"] = {"phase": "Active"}
        elif key == "pods" and isinstance(obj.get("spec", {}), dict):
            spec = obj.setdefault("spec", {})
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("priority", 0)
            if created:
                obj["status"] = {"phase": "Pending"}

    def _generated_name(self, rtype: ResourceType, namespace: str, prefix: str) -> str:
        table = self.store.table(rtype.group_resource)
        for _ in range(8):
            suffix = "".join(self._random.choice(_NAME_ALPHABET) for _ in range(5))
            if table.get(namespace, prefix + suffix) is None:
                return prefix + suffix
        raise errors.already_exists(rtype.group_resource, prefix)

    def _unstored(self, rtype: ResourceType, obj: JsonObject) -> Record:
        metadata = obj["metadata"]
        return Record(
            namespace=metadata.get("namespace", ""),
            name=metadata["name"],
            version=self.store.revision,
            api_version=rtype.api_version,
            labels=metadata.get("labels") or {},
            fields=rtype.field_values(obj),
            raw=dump(obj),
        )

    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        field_validation: str = "",
        warnings: list[str] | None = None,
    ) -> Record:
        obj = self._body(rtype, body)
        metadata = obj["metadata"]
        namespace = self._namespace_for(rtype, namespace, obj)
        if rtype.namespaced:
            self._require_namespace(namespace)
        if metadata.get("resourceVersion"):
            raise ApiError(
                500, "InternalError", "resourceVersion should not be set on objects to be created"
            )
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix or not isinstance(prefix, str):
                raise errors.invalid(
                    rtype.kind_group,
                    "",
                    [("metadata.name", "Required value: name or generateName is required")],
                )
            metadata["name"] = self._generated_name(rtype, namespace, prefix)
        if not isinstance(metadata["name"], str):
            raise errors.bad_request("metadata.name must be a string")
        for field in (*_SERVER_FIELDS, "managedFields", "selfLink"):
            metadata.pop(field, None)
        metadata["uid"] = str(uuid.UUID(int=self._random.getrandbits(128), version=4))
        metadata["creationTimestamp"] = self._timestamp()
        if rtype.tracks_generation:
            metadata["generation"] = 1
        if "status" in rtype.subresources and not rtype.create_keeps_status:
            obj.pop("status", None)
        warned = warnings if warnings is not None else []
        self._default(rtype, obj, created=True)
        obj = self._check(rtype, obj, None, field_validation, warned)
        if rtype is CRDS:
            obj["status"] = _crd_status(obj)
        if self.store.table(rtype.group_resource).get(namespace, obj["metadata"]["name"]):
            raise errors.already_exists(rtype.group_resource, obj["metadata"]["name"])
        if dry_run:
            return self._unstored(rtype, obj)
        return self._commit(rtype, obj, None)

    def seed(self, rtype: ResourceType, objects: Iterable[JsonObject]) -> int:
        """Store objects as given, without validation or defaulting: for filling a large world
        quickly (status included). Names must be unique; metadata gaps are filled."""
        count = 0
        table = self.store.table(rtype.group_resource)
        for body in objects:
            obj = copy.deepcopy(body)
            obj.setdefault("apiVersion", rtype.api_version)
            obj.setdefault("kind", rtype.kind)
            metadata = obj.setdefault("metadata", {})
            if rtype.namespaced:
                metadata.setdefault("namespace", "default")
            metadata.setdefault("uid", str(uuid.UUID(int=self._random.getrandbits(128), version=4)))
            metadata.setdefault("creationTimestamp", self._timestamp())
            previous = table.get(metadata.get("namespace", ""), metadata["name"])
            self._commit(rtype, obj, previous)
            count += 1
        return count

    def update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "",
        warnings: list[str] | None = None,
    ) -> Record:
        previous = self.get(rtype, namespace, name)
        new = self._body(rtype, body)
        given = new["metadata"].get("name")
        if given and given != name:
            raise errors.bad_request(
                f"the name of the object ({given}) does not match the name on the URL ({name})"
            )
        version = new["metadata"].get("resourceVersion")
        if version:
            if str(version) != str(previous.version):
                raise errors.stale(rtype.group_resource, name)
        elif not rtype.allows_unconditional_update:
            raise errors.invalid(
                rtype.kind_group,
                name,
                [("metadata.resourceVersion", "Invalid value: 0: must be specified for an update")],
            )
        return self._replace(
            rtype,
            previous,
            new,
            subresource,
            dry_run,
            field_validation,
            warnings if warnings is not None else [],
        )

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_validation: str = "",
        warnings: list[str] | None = None,
    ) -> Record:
        media = content_type.split(";")[0].strip().lower()
        if media not in PATCH_TYPES or (media == STRATEGIC_MERGE_PATCH and rtype.custom):
            accepted = (JSON_PATCH, MERGE_PATCH) if rtype.custom else PATCH_TYPES
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(accepted)}",
            )
        previous = self.get(rtype, namespace, name)
        old = previous.load()
        try:
            if media == JSON_PATCH:
                patched = json_patch(old, patch)
            elif media == MERGE_PATCH:
                patched = merge_patch(old, patch)
            else:
                patched = strategic_merge_patch(old, patch)
        except PatchError as error:
            raise ApiError(422, "Invalid", f"the patch cannot be applied: {error}") from error
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise ApiError(422, "Invalid", "the patched object is not a valid object")
        version = patched["metadata"].get("resourceVersion")
        if version and str(version) != str(previous.version):
            raise errors.stale(rtype.group_resource, name)
        if patched["metadata"].get("name") != name:
            raise errors.bad_request("metadata.name cannot be changed by a patch")
        return self._replace(
            rtype,
            previous,
            patched,
            subresource,
            dry_run,
            field_validation,
            warnings if warnings is not None else [],
        )

    def _replace(
        self,
        rtype: ResourceType,
        previous: Record,
        new: JsonObject,
        subresource: str,
        dry_run: bool,
        field_validation: str,
        warnings: list[str],
    ) -> Record:
        old = previous.load()
        if subresource == "status":
            merged = copy.deepcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
        else:
            merged = new
            if "status" in rtype.subresources:
                if "status" in old:
                    merged["status"] = old["status"]
                else:
                    merged.pop("status", None)
        metadata, old_metadata = merged["metadata"], old["metadata"]
        for field in (*_SERVER_FIELDS, "namespace", "name", "generation"):
            if field in old_metadata:
                metadata[field] = old_metadata[field]
            else:
                metadata.pop(field, None)
        metadata["resourceVersion"] = old_metadata["resourceVersion"]
        if old_metadata.get("deletionTimestamp"):
            before = set(old_metadata.get("finalizers") or ())
            if set(metadata.get("finalizers") or ()) - before:
                raise errors.invalid(
                    rtype.kind_group,
                    previous.name,
                    [
                        (
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being "
                            "deleted",
                        )
                    ],
                )
        if rtype.tracks_generation and _spec_part(old) != _spec_part(merged):
            metadata["generation"] = int(old_metadata.get("generation", 1)) + 1
        self._default(rtype, merged, created=False)
        merged = self._check(rtype, merged, old, field_validation, warnings)
        if merged == old:
            return previous  # an update that changes nothing writes nothing, as etcd
        if dry_run:
            return self._unstored(rtype, merged)
        if old_metadata.get("deletionTimestamp") and not merged["metadata"].get("finalizers"):
            return self._remove(rtype, merged, previous, cascade=True)
        return self._commit(rtype, merged, previous)

    # -- deletion ------------------------------------------------------------------------

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

    def _storage_types(self) -> list[ResourceType]:
        seen: dict[str, ResourceType] = {}
        for rtype in self._types.values():
            seen.setdefault(rtype.group_resource, rtype)
        return list(seen.values())

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

    # -- subresources --------------------------------------------------------------------

    def bind(self, namespace: str, name: str, binding: Any) -> None:
        """POST pods/{name}/binding (or namespaces/{ns}/bindings): set spec.nodeName."""
        if not isinstance(binding, Mapping) or not isinstance(binding.get("target"), Mapping):
            raise errors.bad_request("a Binding needs a target")
        node = binding["target"].get("name")
        if not node:
            raise errors.invalid("Binding", name, [("target.name", "Required value")])
        previous = self.get(PODS, namespace, name)
        pod = previous.load()
        spec = pod.setdefault("spec", {})
        if spec.get("nodeName"):
            raise errors.conflict(
                "pods", name, f"pod {name} is already assigned to node {spec['nodeName']!r}"
            )
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", name, f"pod {name} is being deleted, cannot be assigned")
        spec["nodeName"] = node
        status = pod.setdefault("status", {})
        conditions = [
            condition
            for condition in status.get("conditions") or ()
            if condition.get("type") != "PodScheduled"
        ]
        conditions.append(
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": self._timestamp()}
        )
        status["conditions"] = conditions
        self._commit(PODS, pod, previous)

    def evict(self, namespace: str, name: str, eviction: Any) -> None:
        """POST pods/{name}/eviction: 429 while a disruption budget forbids it, else delete."""
        if not isinstance(eviction, Mapping):
            raise errors.bad_request("the body must be an Eviction object")
        given = (eviction.get("metadata") or {}).get("name")
        if given and given != name:
            raise errors.bad_request(
                f"name in URL does not match name in Eviction object: {name} != {given}"
            )
        record = self.get(PODS, namespace, name)
        pod = record.load()
        phase = (pod.get("status") or {}).get("phase")
        exempt = pod["metadata"].get("deletionTimestamp") or phase in (
            "Succeeded",
            "Failed",
            "Pending",
        )
        if not exempt:
            budgets = self.budgets.budgets_for(namespace, record.labels)
            if len(budgets) > 1:
                raise ApiError(
                    500,
                    "InternalError",
                    "This pod has more than one PodDisruptionBudget, which the eviction "
                    "subresource does not support.",
                )
            if budgets:
                self._check_budget(budgets[0], pod_is_healthy(pod))
        options = eviction.get("deleteOptions") or {}
        self.delete(PODS, namespace, name, options if isinstance(options, Mapping) else {})

    def _check_budget(self, budget: PdbRecord, healthy: bool) -> None:
        record = self.get(PDBS, budget.namespace, budget.name)
        status = record.load().get("status") or {}
        allowed = int(status.get("disruptionsAllowed", 0))
        current = int(status.get("currentHealthy", 0))
        desired = int(status.get("desiredHealthy", 0))
        if healthy and allowed > 0:
            return
        if not healthy and (budget.allows_unhealthy_eviction_always or current >= desired):
            return
        raise ApiError(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            details={
                "causes": [
                    {
                        "reason": "DisruptionBudget",
                        "message": f"The disruption budget {budget.name} needs {desired} "
                        f"healthy pods and has {current} currently",
                    }
                ]
            },
        )

    # -- the single write path, with what follows each write ------------------------------

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
