"""Writes in a fake cluster: create, update and the three patch types, with defaulting,
validation against the schema, generated names and served CRDs."""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from testbed.apiserver import errors
from testbed.apiserver.crds import CrdError, CrdSource, load_crds, resource_types
from testbed.apiserver.errors import ApiError
from testbed.apiserver.patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from testbed.apiserver.registry_deletion import DeletingRegistry
from testbed.apiserver.resources import (
    CRDS,
    NAMESPACES,
    ResourceType,
)
from testbed.apiserver.schema import apply_defaults, prune, unknown_fields, validate
from testbed.apiserver.store import Record, dump
from testbed.apiserver.validation import Problems, check_metadata, check_object

JsonObject = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


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


class WritingRegistry(DeletingRegistry):
    """Creates, updates and patches objects as an API server does."""

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
