"""Where a pod's persistent volumes let it run, as kube-scheduler's volume filters decide.

Three filters of kube-scheduler's default profile look at a pod's PersistentVolumeClaims:

* VolumeBinding: a bound claim's PersistentVolume ``nodeAffinity`` must match the node; an
  unbound claim of a ``WaitForFirstConsumer`` StorageClass needs, on that node, either an
  available PV it could bind (matching class, size, access modes, volume mode and selector,
  whose node affinity matches) or dynamic provisioning (a provisioner other than
  ``kubernetes.io/no-provisioner`` and ``allowedTopologies`` matching the node); an unbound
  claim of any other class makes the pod unschedulable until the PV controller binds it.
* VolumeZone: the zone and region labels of a bound PV (legacy ``failure-domain.beta`` ones
  too, values joined by ``__``) must match the node's, unless the node has no such label.
* VolumeRestrictions: a ``ReadWriteOncePod`` claim that another pod already uses keeps the
  pod off every node.

:func:`volume_constraint` turns these into node-selector terms (ORed, like a required node
affinity) that the pod's own terms are ANDed with, or a reason no node can take the pod now;
:func:`with_volume_topology` applies them to every pod of a snapshot that mounts claims, so
that the rest of the core (predicates, zones, scale-down) sees them as node affinity. A new
VM is then planned in the zone of the pod's zonal volume (see :mod:`autoscaler.core.zones`).
Not modelled: CSI storage capacity, in-tree disk conflicts, CSI volume limits, and several
pending pods competing for the same available PV (each sees it free).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from autoscaler.core.model import (
    REGION_LABEL,
    ZONE_LABEL,
    NodeSelectorTerm,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodPhase,
    Requirement,
    Snapshot,
    StorageClass,
    VolumeBindingMode,
)
from autoscaler.core.predicates import label_selector_matches

BETA_ZONE_LABEL: Final = "failure-domain.beta.kubernetes.io/zone"
BETA_REGION_LABEL: Final = "failure-domain.beta.kubernetes.io/region"
# The order kube-scheduler's VolumeZone reads a PV's labels in.
TOPOLOGY_LABELS: Final = (BETA_ZONE_LABEL, BETA_REGION_LABEL, ZONE_LABEL, REGION_LABEL)
_GA_LABEL: Final = {BETA_ZONE_LABEL: ZONE_LABEL, BETA_REGION_LABEL: REGION_LABEL}
NO_PROVISIONER: Final = "kubernetes.io/no-provisioner"
READ_WRITE_ONCE_POD: Final = "ReadWriteOncePod"

# kube-scheduler's messages, so that an operator recognises them.
BIND_CONFLICT: Final = "node(s) didn't find available persistent volumes to bind"
UNBOUND_IMMEDIATE: Final = "pod has unbound immediate PersistentVolumeClaims"
MISSING_PV: Final = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
RWOP_CONFLICT: Final = (
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)
NOTHING: Final = NodeSelectorTerm()  # an empty term matches no node
_TERMINAL: Final = (PodPhase.SUCCEEDED, PodPhase.FAILED)

Terms = tuple[NodeSelectorTerm, ...]


@dataclass(frozen=True, slots=True)
class VolumeConstraint:
    """What a pod's volumes ask of a node: ``terms`` (ORed; None when any node will do), or
    ``blocked``, why no node can take it now."""

    terms: Terms | None = None
    blocked: str = ""


def and_terms(left: Terms | None, right: Terms | None) -> Terms | None:
    """Both ORed term lists at once (None stands for no constraint): every pairing of a
    term of each, its requirements joined."""
    if left is None:
        return right
    if right is None:
        return left
    return tuple(
        NodeSelectorTerm(a.match_expressions + b.match_expressions, a.match_fields + b.match_fields)
        for a in left
        for b in right
    )


def zone_terms(labels: Mapping[str, str]) -> Terms | None:
    """VolumeZone's rule for a PV with these labels, as terms: a node without any topology
    label, or one whose labels hold every PV topology label's value. A PV's legacy beta
    label is checked against the node's beta label, or its GA one when the beta is absent."""
    topology = tuple((key, labels[key]) for key in TOPOLOGY_LABELS if key in labels)
    return _zone_terms(topology) if topology else None


@functools.lru_cache(maxsize=1024)
def _zone_terms(topology: tuple[tuple[str, str], ...]) -> Terms | None:
    matched: Terms | None = None
    for key, value in topology:
        values = tuple(sorted(v for v in value.split("__") if v))
        options: Terms = (NodeSelectorTerm((Requirement(key, "In", values),)),)
        if key in _GA_LABEL:
            options += (
                NodeSelectorTerm(
                    (Requirement(key, "DoesNotExist"), Requirement(_GA_LABEL[key], "In", values))
                ),
            )
        matched = and_terms(matched, options)
    if matched is None:
        return None
    unlabelled = NodeSelectorTerm(tuple(Requirement(k, "DoesNotExist") for k in TOPOLOGY_LABELS))
    return (unlabelled, *matched)


class StorageIndex:
    """A snapshot's claims, volumes and classes by name, and who uses each claim."""

    def __init__(
        self,
        claims: Iterable[PersistentVolumeClaim],
        volumes: Iterable[PersistentVolume],
        classes: Iterable[StorageClass],
        pods: Iterable[Pod],
    ) -> None:
        self.claims = {claim.key: claim for claim in claims}
        self.volumes = {volume.name: volume for volume in volumes}
        self.classes = {cls.name: cls for cls in classes}
        self.volumes_by_class: dict[str, list[PersistentVolume]] = {}
        for volume in sorted(self.volumes.values(), key=lambda v: v.name):
            self.volumes_by_class.setdefault(volume.storage_class, []).append(volume)
        self._pods = pods
        self._users: dict[str, set[str]] | None = None

    def users(self, claim: str) -> set[str]:
        """The pods that use ``claim`` (namespace/name): pods assigned to a node count, as
        kube-scheduler counts them for ReadWriteOncePod. Indexed on first use."""
        if self._users is None:
            self._users = {}
            for pod in self._pods:
                if pod.claims and pod.node_name and pod.phase not in _TERMINAL:
                    for name in pod.claims:
                        self._users.setdefault(f"{pod.namespace}/{name}", set()).add(pod.key)
        return self._users.get(claim, set())

    @classmethod
    def of(cls, snapshot: Snapshot) -> StorageIndex:
        return cls(snapshot.claims, snapshot.volumes, snapshot.storage_classes, snapshot.pods)

    def constraint(self, pod: Pod) -> VolumeConstraint:
        """In kube-scheduler's order: missing or deleted claims and claims that wait for the
        PV controller first (PreFilter), then ReadWriteOncePod use, then each node."""
        claims: list[PersistentVolumeClaim] = []
        for name in pod.claims:
            claim = self.claims.get(f"{pod.namespace}/{name}")
            if claim is None:
                return VolumeConstraint(blocked=f'persistentvolumeclaim "{name}" not found')
            if claim.deleting:
                return VolumeConstraint(blocked=f'persistentvolumeclaim "{name}" is being deleted')
            claims.append(claim)
        for claim in claims:
            if not _bound(claim) and (waits := self._waits_for_binding(claim)):
                return VolumeConstraint(blocked=waits)
        for claim in claims:
            if READ_WRITE_ONCE_POD in claim.access_modes and self.users(claim.key) - {pod.key}:
                return VolumeConstraint(blocked=RWOP_CONFLICT)
        terms: Terms | None = None
        for claim in claims:
            found = self._bound_terms(claim) if _bound(claim) else self._unbound_terms(claim)
            if isinstance(found, str):
                return VolumeConstraint(blocked=found)
            terms = and_terms(terms, found)
        return VolumeConstraint(terms)

    def _waits_for_binding(self, claim: PersistentVolumeClaim) -> str:
        """Why an unbound claim waits for the PV controller rather than for a node, or ""."""
        if not claim.storage_class:
            return UNBOUND_IMMEDIATE
        cls = self.classes.get(claim.storage_class)
        if cls is None:
            return f'storageclass.storage.k8s.io "{claim.storage_class}" not found'
        if cls.binding_mode is None:
            return f'VolumeBindingMode not set for StorageClass "{cls.name}"'
        # A claim naming its volume but not yet bound to it waits for the PV controller.
        if cls.binding_mode is not VolumeBindingMode.WAIT_FOR_FIRST_CONSUMER or claim.volume_name:
            return UNBOUND_IMMEDIATE
        return ""

    def _bound_terms(self, claim: PersistentVolumeClaim) -> Terms | str | None:
        volume = self.volumes.get(claim.volume_name)
        if volume is None:
            if claim.phase == "Lost":
                return (
                    f'persistentvolumeclaim "{claim.name}" bound to non-existent '
                    f'persistentvolume "{claim.volume_name}"'
                )
            return MISSING_PV
        return and_terms(volume.node_affinity or None, zone_terms(volume.labels))

    def _unbound_terms(self, claim: PersistentVolumeClaim) -> Terms | str | None:
        """Where a WaitForFirstConsumer claim can be bound or provisioned."""
        cls = self.classes[claim.storage_class]
        options: list[NodeSelectorTerm] = []
        for volume in self.volumes_by_class.get(cls.name, ()):
            if can_bind(claim, volume):
                if not volume.node_affinity:
                    return None
                options.extend(volume.node_affinity)
        if cls.provisioner and cls.provisioner != NO_PROVISIONER:
            if not cls.allowed_topologies:
                return None
            options.extend(cls.allowed_topologies)
        return tuple(options) if options else BIND_CONFLICT


def _bound(claim: PersistentVolumeClaim) -> bool:
    return bool(claim.volume_name) and claim.bind_completed


def can_bind(claim: PersistentVolumeClaim, volume: PersistentVolume) -> bool:
    """Whether the PV controller could bind ``claim`` to ``volume`` (apart from the node)."""
    if volume.deleting or volume.storage_class != claim.storage_class:
        return False
    if volume.claim is not None and volume.claim != claim.key:
        return False
    if volume.phase not in ("", "Available") and volume.claim is None:
        return False
    if volume.capacity < claim.requested or volume.volume_mode != claim.volume_mode:
        return False
    if not set(claim.access_modes) <= set(volume.access_modes):
        return False
    return claim.selector is None or label_selector_matches(claim.selector, volume.labels)


def constrained(pod: Pod, constraint: VolumeConstraint) -> Pod:
    """``pod`` with its volumes' terms ANDed into its required node affinity; a blocked pod
    gets a term no node matches, so that nothing plans to move it or make room for it."""
    if constraint.blocked:
        return replace(pod, blocked=constraint.blocked, required_node_affinity=(NOTHING,))
    if constraint.terms is None:
        return pod
    own = pod.required_node_affinity or None
    combined = and_terms(own, constraint.terms)
    assert combined is not None
    return replace(pod, required_node_affinity=combined)


def with_volume_topology(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with every pod that mounts claims constrained by its volumes."""
    return VolumeTopology().apply(snapshot)


class VolumeTopology:
    """:func:`with_volume_topology` across decisions: a pod whose object and constraint are
    unchanged since the last decision keeps the same constrained object, which spares
    rebuilding it and keeps the caches that compare pods by identity warm."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[Pod, VolumeConstraint, Pod]] = {}

    def apply(self, snapshot: Snapshot) -> Snapshot:
        if not any(pod.claims for pod in snapshot.pods):
            self._memo = {}
            return snapshot
        index = StorageIndex.of(snapshot)
        memo: dict[str, tuple[Pod, VolumeConstraint, Pod]] = {}
        pods = []
        for pod in snapshot.pods:
            if pod.claims:
                constraint = index.constraint(pod)
                known = self._memo.get(pod.key)
                if known is not None and known[0] is pod and known[1] == constraint:
                    out = known[2]
                else:
                    out = constrained(pod, constraint)
                memo[pod.key] = (pod, constraint, out)
                pod = out
            pods.append(pod)
        self._memo = memo
        return replace(snapshot, pods=tuple(pods))
