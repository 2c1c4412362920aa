"""kube-scheduler's filter predicates, applied to one node during a simulation.

The rules follow the scheduler's Filter plugins: NodeUnschedulable (a cordoned node takes the
pods that tolerate ``node.kubernetes.io/unschedulable:NoSchedule``), NodeAffinity (nodeSelector
and required node affinity; a term that does not parse matches nothing), TaintToleration
(NoSchedule and NoExecute taints, and taints of an effect the model does not know, which are
treated like NoSchedule), NodeResourcesFit (including the pod count and extended resources),
NodePorts and the hostname half of InterPodAffinity (required anti-affinity, both
directions). A node attached to cluster-wide filters (:class:`ClusterFilters`, see
``topology_filters.py``) asks them instead for inter-pod affinity on every topology key and
for topology spread, which no single node can decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Protocol

from autoscaler.api.resources import CPU, MEMORY, PODS, Resources
from autoscaler.core.labels import NODE_NAME_FIELD as NODE_NAME_FIELD
from autoscaler.core.labels import parse_int64, term_error
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    HostPort,
    LabelSelector,
    Node,
    NodeSelectorTerm,
    Pod,
    PodAffinityTerm,
    Requirement,
    Taint,
    TaintEffect,
    Toleration,
)

UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", TaintEffect.NO_SCHEDULE)
_FILTERED_EFFECTS = (TaintEffect.NO_SCHEDULE, TaintEffect.NO_EXECUTE)

UNSCHEDULABLE = "node(s) were unschedulable"
SELECTOR_MISMATCH = "node(s) didn't match node selector"
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity"
TOO_MANY_PODS = "Too many pods"
PORTS_IN_USE = "node(s) didn't have free ports for the requested pod ports"
ANTI_AFFINITY_MISMATCH = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

_ANY_IP = "0.0.0.0"


class ClusterFilters(Protocol):
    """The filters that need every node of the plan (topology spread, inter-pod affinity).

    A NodeState attached to one asks it for those filters instead of checking hostname
    anti-affinity on its own pods, and tells it about every pod added or removed.
    """

    def failure(self, pod: Pod, node: str) -> str | None: ...

    def placed(self, pods: Sequence[Pod], node: str, sign: int = 1) -> None: ...

    @property
    def reaches_every_pod(self) -> bool:
        """Whether pods with no constraints of their own may still be refused (by the
        anti-affinity of pods already placed), so must be checked one by one."""
        ...


# Label and node selectors -------------------------------------------------------------------
def requirement_matches(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    """One node-selector or label-selector requirement; an unknown operator never matches."""
    op = requirement.operator
    value = labels.get(requirement.key)
    if op == "In":
        return value is not None and value in requirement.values
    if op == "NotIn":
        return value is None or value not in requirement.values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        if value is None or len(requirement.values) != 1:
            return False
        actual, bound = parse_int64(value), parse_int64(requirement.values[0])
        if actual is None or bound is None:
            return False
        return actual > bound if op == "Gt" else actual < bound
    return False


def label_selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector; the empty selector matches everything."""
    for key, value in selector.match_labels:
        if labels.get(key) != value:
            return False
    return all(requirement_matches(r, labels) for r in selector.match_expressions)


def _field_matches(requirement: Requirement, node_name: str | None) -> bool:
    # A node's only field is metadata.name; any other field reads as "" (fields.Set.Get).
    # A node not created yet has no name, so no list of existing names can contain it:
    # In fails and NotIn holds.
    if requirement.key == NODE_NAME_FIELD and node_name is None:
        return requirement.operator == "NotIn"
    actual = node_name if requirement.key == NODE_NAME_FIELD else ""
    wanted = requirement.values[0]
    return actual == wanted if requirement.operator == "In" else actual != wanted


def _term_matches(term: NodeSelectorTerm, labels: Mapping[str, str], node_name: str | None) -> bool:
    if not term.match_expressions and not term.match_fields:
        return False  # an empty term matches no node
    if term_error(term) is not None:
        return False  # a term that does not parse matches no node; the others still may
    if not all(requirement_matches(r, labels) for r in term.match_expressions):
        return False
    return all(_field_matches(r, node_name) for r in term.match_fields)


def selector_mismatch(
    pod: Pod, labels: Mapping[str, str], node_name: str | None = None
) -> str | None:
    """nodeSelector and required node affinity; the reason they reject the node, or None.

    ``node_name`` is needed only for ``matchFields`` on ``metadata.name``; None stands for a
    node that does not exist yet.
    """
    for key, value in pod.node_selector.items():
        if labels.get(key) != value:
            return SELECTOR_MISMATCH
    terms = pod.required_node_affinity
    if terms and not any(_term_matches(t, labels, node_name) for t in terms):
        return AFFINITY_MISMATCH
    return None


# Taints and tolerations ---------------------------------------------------------------------
def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """``Toleration.ToleratesTaint``: an empty effect or key matches any; Gt and Lt compare
    the taint's value with the toleration's as int64 numbers."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    op = toleration.operator
    if op in ("Equal", ""):
        return toleration.value == taint.value
    if op == "Exists":
        return True
    if op in ("Gt", "Lt"):
        bound, actual = parse_int64(toleration.value), parse_int64(taint.value)
        if bound is None or actual is None:
            return False
        return actual > bound if op == "Gt" else actual < bound
    return False


def tolerates_all(tolerations: Sequence[Toleration], taint: Taint) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def taint_mismatch(pod: Pod, taints: Sequence[Taint]) -> str | None:
    """The first taint that keeps the pod off the node, as a reason, or None: NoSchedule and
    NoExecute taints it does not tolerate, and taints of an unknown effect (no scheduler
    ignores those, so planning must not either)."""
    for taint in taints:
        if taint.effect == TaintEffect.PREFER_NO_SCHEDULE:
            continue
        if not tolerates_all(pod.tolerations, taint):
            return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"
    return None


def unschedulable_mismatch(pod: Pod) -> str | None:
    """NodeUnschedulable on a cordoned node: only pods that tolerate the unschedulable taint."""
    return None if tolerates_all(pod.tolerations, UNSCHEDULABLE_TAINT) else UNSCHEDULABLE


# Host ports and anti-affinity ---------------------------------------------------------------
def _ports_clash(a: HostPort, b: HostPort) -> bool:
    if a.port != b.port or a.protocol != b.protocol:
        return False
    return a.host_ip == b.host_ip or _ANY_IP in (a.host_ip, b.host_ip)


def _hostname_terms(pod: Pod) -> tuple[PodAffinityTerm, ...]:
    return tuple(t for t in pod.required_anti_affinity if t.topology_key == HOSTNAME_LABEL)


_NO_LABELS: Mapping[str, str] = {}


def term_covers_namespace(
    term: PodAffinityTerm,
    owner_namespace: str,
    namespace: str,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    """Whether a term of a pod in ``owner_namespace`` applies to pods in ``namespace``: the
    union of ``namespaces`` and the namespaces its ``namespaceSelector`` matches, or the
    owner's own namespace when it has neither."""
    selector = term.namespace_selector
    if not term.namespaces and selector is None:
        return namespace == owner_namespace
    if namespace in term.namespaces:
        return True
    return selector is not None and label_selector_matches(
        selector, namespace_labels.get(namespace, _NO_LABELS)
    )


def term_selects(
    term: PodAffinityTerm,
    owner: Pod,
    other: Pod,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> bool:
    """Whether ``owner``'s (anti-)affinity term selects ``other``."""
    return term_covers_namespace(
        term, owner.namespace, other.namespace, namespace_labels or {}
    ) and label_selector_matches(term.selector, other.labels)


@lru_cache(maxsize=4096)
def amounts(resources: Resources) -> tuple[tuple[str, int], ...]:
    """The (name, amount) pairs of a vector, memoised: pods of one template share their
    requests, and iterating a Mapping is slow on the hot path of a 50k-pod simulation."""
    return tuple(resources.items())


def pod_vector(pod: Pod) -> Resources:
    """What the pod takes from a node: its requests plus its own pod slot."""
    return pod.requests + {PODS: 1}


def insufficient(
    requests: Mapping[str, int], used: Mapping[str, int], alloc: Mapping[str, int]
) -> str | None:
    """NodeResourcesFit: the resources whose request exceeds what is left, as a reason."""
    pairs = amounts(requests) if isinstance(requests, Resources) else tuple(requests.items())
    short = [k for k, v in pairs if v > 0 and used.get(k, 0) + v > alloc.get(k, 0)]
    if not short:
        return None
    if PODS in short:
        return TOO_MANY_PODS
    order = {CPU: 0, MEMORY: 1}
    return ", ".join(f"Insufficient {k}" for k in sorted(short, key=lambda k: (order.get(k, 2), k)))


class NodeState:
    """One node (existing, launching or planned) and the pods on it, during a simulation."""

    __slots__ = (
        "_alloc",
        "_allocatable",
        "_anti_affinity_pods",
        "_free",
        "_ports",
        "_shared",
        "_signature",
        "_used",
        "cluster",
        "cordoned",
        "labels",
        "name",
        "node_name",
        "pods",
        "schedulable",
        "taints",
    )

    def __init__(
        self,
        name: str,
        allocatable: Resources,
        labels: Mapping[str, str] | None = None,
        taints: Sequence[Taint] = (),
        pods: Iterable[Pod] = (),
        schedulable: bool = True,
        used: Mapping[str, int] | None = None,
        node_name: str | None = None,
        cordoned: bool = False,
    ) -> None:
        """``used`` is capacity taken by something other than ``pods`` (DaemonSet overhead of a
        node that does not exist yet); ``node_name`` is the name for ``matchFields``, None when
        the node is not created yet. ``cordoned`` is ``spec.unschedulable`` (the pods that
        tolerate it may still come); ``schedulable=False`` takes no new pod at all."""
        self.name = name
        self.node_name = node_name
        self.cordoned = cordoned
        self.labels: Mapping[str, str] = labels if labels is not None else {}
        self.taints: tuple[Taint, ...] = tuple(taints)
        self.allocatable = allocatable
        self.schedulable = schedulable
        self.pods: list[Pod] = []
        self._used: dict[str, int] = dict(used or {})
        self._ports: list[HostPort] = []
        self._anti_affinity_pods: list[Pod] = []
        self._signature: tuple[object, ...] | None = None
        self._shared = False
        self.cluster: ClusterFilters | None = None
        for pod in pods:
            self.add(pod)

    @classmethod
    def from_node(cls, node: Node, bound_pods: Iterable[Pod]) -> NodeState:
        return cls(
            node.name,
            node.allocatable,
            node.labels,
            node.taints,
            bound_pods,
            node_name=node.name,
            cordoned=node.unschedulable,
        )

    def copy(self) -> NodeState:
        """An independent state with the same pods, far cheaper than adding them again.

        The copy shares its containers with this state until its first change (copy on
        write), so neither may have ``pods`` changed other than through its methods.
        """
        clone = NodeState.__new__(NodeState)
        clone.name = self.name
        clone.node_name = self.node_name
        clone.labels = self.labels
        clone.taints = self.taints
        clone.schedulable = self.schedulable
        clone.cordoned = self.cordoned
        clone._allocatable = self._allocatable
        clone._alloc = self._alloc
        clone._free = self._free
        clone._signature = self._signature
        clone.pods = self.pods
        clone._used = self._used
        clone._ports = self._ports
        clone._anti_affinity_pods = self._anti_affinity_pods
        clone._shared = self._shared = True
        clone.cluster = None  # a copy is attached to a plan's filters by whoever plans with it
        return clone

    def _own(self) -> None:
        """Take private copies of the containers shared with a copy, before a change."""
        self.pods = list(self.pods)
        self._used = dict(self._used)
        self._ports = list(self._ports)
        self._anti_affinity_pods = list(self._anti_affinity_pods)
        self._shared = False

    def __repr__(self) -> str:
        return f"NodeState({self.name!r}, pods={len(self.pods)}, free={self.free!r})"

    # Capacity ---------------------------------------------------------------------------------
    @property
    def allocatable(self) -> Resources:
        return self._allocatable

    @allocatable.setter
    def allocatable(self, value: Resources) -> None:
        self._allocatable = value
        self._alloc: dict[str, int] = dict(amounts(value))
        self._free: Resources | None = None

    @property
    def used(self) -> Resources:
        """The sum of the requests of the pods on the node, with pods=<count>."""
        return Resources(self._used)

    @property
    def free(self) -> Resources:
        """Allocatable minus used (negative where the node is overcommitted)."""
        if self._free is None:
            self._free = self.allocatable - self._used
        return self._free

    def room(self) -> tuple[int, int, int]:
        """Free cpu, memory and pod slots, without building a vector."""
        alloc, used = self._alloc, self._used
        return (
            alloc.get(CPU, 0) - used.get(CPU, 0),
            alloc.get(MEMORY, 0) - used.get(MEMORY, 0),
            alloc.get(PODS, 0) - used.get(PODS, 0),
        )

    def how_many(self, vector: Resources) -> int:
        """How many more pods of ``vector`` (requests plus the pod slot) fit on the node."""
        alloc, used = self._alloc, self._used
        count = 1 << 30
        for name, amount in amounts(vector):
            if amount > 0:
                room = (alloc.get(name, 0) - used.get(name, 0)) // amount
                if room < count:
                    if room <= 0:
                        return 0
                    count = room
        return count

    @property
    def has_anti_affinity_pods(self) -> bool:
        """Whether a pod placed here (or, with cluster filters, anywhere) may refuse others."""
        if self.cluster is not None and self.cluster.reaches_every_pod:
            return True
        return bool(self._anti_affinity_pods)

    @property
    def signature(self) -> tuple[object, ...]:
        """What the static predicates see, minus the hostname: equal signatures, equal answers
        for pods that do not select on the hostname or the node name."""
        if self._signature is None:
            labels = frozenset((k, v) for k, v in self.labels.items() if k != HOSTNAME_LABEL)
            self._signature = (labels, self.taints, self.schedulable, self.cordoned)
        return self._signature

    # Predicates -------------------------------------------------------------------------------
    def static_failure(self, pod: Pod) -> str | None:
        """The predicates that depend only on the node itself, not on the pods on it."""
        if not self.schedulable:
            return UNSCHEDULABLE
        if self.cordoned and unschedulable_mismatch(pod):
            return UNSCHEDULABLE
        return selector_mismatch(pod, self.labels, self.node_name) or taint_mismatch(
            pod, self.taints
        )

    def dynamic_failure(self, pod: Pod) -> str | None:
        """The predicates that depend on the pods already on the node."""
        used, alloc = self._used, self._alloc
        if used.get(PODS, 0) + 1 > alloc.get(PODS, 0):
            return TOO_MANY_PODS
        reason = insufficient(pod.requests, used, alloc)
        if reason:
            return reason
        for wanted in pod.host_ports:
            if wanted.port > 0 and any(_ports_clash(wanted, taken) for taken in self._ports):
                return PORTS_IN_USE
        if self.cluster is not None:
            return self.cluster.failure(pod, self.name)
        terms = _hostname_terms(pod)
        if terms and any(term_selects(t, pod, other) for t in terms for other in self.pods):
            return ANTI_AFFINITY_MISMATCH
        for other in self._anti_affinity_pods:
            if any(term_selects(t, other, pod) for t in _hostname_terms(other)):
                return EXISTING_ANTI_AFFINITY
        return None

    def fit_failure(self, pod: Pod) -> str | None:
        """Every predicate; the first reason the pod cannot go here, or None when it fits."""
        return self.static_failure(pod) or self.dynamic_failure(pod)

    # Mutation ---------------------------------------------------------------------------------
    def add(self, pod: Pod) -> None:
        if self._shared:
            self._own()
        self._account(pod.requests, 1)
        self._track(pod)
        if self.cluster is not None:
            self.cluster.placed((pod,), self.name)

    def add_equivalent(self, pods: Sequence[Pod], requests: Resources) -> None:
        """Add pods that all request exactly ``requests``, in one step."""
        if not pods:
            return
        if self._shared:
            self._own()
        count = len(pods)
        used = self._used
        for name, amount in amounts(requests):
            used[name] = used.get(name, 0) + amount * count
        used[PODS] = used.get(PODS, 0) + count
        self._free = None
        if any(p.host_ports or p.required_anti_affinity for p in pods):
            for pod in pods:
                self._track(pod)
        else:
            self.pods.extend(pods)
        if self.cluster is not None:
            self.cluster.placed(pods, self.name)

    def remove(self, pod: Pod) -> None:
        """Remove a pod placed here before (matched by key); unknown pods are ignored."""
        if self._shared:
            self._own()
        key = pod.key
        for index, placed in enumerate(self.pods):
            if placed.key == key:
                del self.pods[index]
                break
        else:
            return
        self._account(placed.requests, -1, sign=-1)
        if placed.host_ports:
            for port in placed.host_ports:
                if port in self._ports:
                    self._ports.remove(port)
        if placed in self._anti_affinity_pods:
            self._anti_affinity_pods.remove(placed)
        if self.cluster is not None:
            self.cluster.placed((placed,), self.name, -1)

    def _account(self, requests: Resources, count: int, sign: int = 1) -> None:
        used = self._used
        for k, v in amounts(requests):
            used[k] = used.get(k, 0) + sign * v
        used[PODS] = used.get(PODS, 0) + count
        self._free = None

    def _track(self, pod: Pod) -> None:
        self.pods.append(pod)
        if pod.host_ports:
            self._ports.extend(p for p in pod.host_ports if p.port > 0)
        if pod.required_anti_affinity and _hostname_terms(pod):
            self._anti_affinity_pods.append(pod)
