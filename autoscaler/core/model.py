"""The core's frozen view of the world: what informers keep and what the simulator produces.

Only the fields a decision needs are kept (memory matters with 50k pods). Times are seconds
on the injected clock (``time.time()`` in the controller, virtual time in the simulator).
Maps are plain dicts by convention and must not be mutated once in a snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from autoscaler.api.disruption import DisruptionRecord
from autoscaler.api.naming import REGION_LABEL as REGION_LABEL
from autoscaler.api.naming import ZONE_LABEL as ZONE_LABEL
from autoscaler.api.policy import PoolSettings, Shape, ShapeBounds, TenantLimits
from autoscaler.api.resources import EMPTY, Resources

# Well-known labels and annotations ------------------------------------------------------
HOSTNAME_LABEL = "kubernetes.io/hostname"
POOL_LABEL = "kvpool.io/pool"
TENANT_LABEL = "kvpool.io/tenant"
IMAGE_HASH_LABEL = "kvpool.io/image-hash"
SHAPE_LABEL = "kvpool.io/shape"
DO_NOT_DISRUPT_ANNOTATION = "kvpool.io/do-not-disrupt"
SAFE_TO_EVICT_ANNOTATIONS = (
    "kvpool.io/safe-to-evict",
    "cluster-autoscaler.kubernetes.io/safe-to-evict",
)
DEFAULT_SCHEDULER = "default-scheduler"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


@dataclass(frozen=True, slots=True)
class Taint:
    """``effect`` is a :class:`TaintEffect` or, from a node written by a newer API server, any
    other text, which planning treats like NoSchedule."""

    key: str
    effect: str
    value: str = ""


@dataclass(frozen=True, slots=True)
class Toleration:
    """``operator`` is ``Equal`` (also spelt ""), ``Exists``, or the numeric ``Gt``/``Lt``;
    any other operator tolerates nothing. An empty key with Exists tolerates every taint."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str | None = None  # None tolerates every effect


@dataclass(frozen=True, slots=True)
class Requirement:
    """A node selector or label selector requirement.

    Node affinity operators: In, NotIn, Exists, DoesNotExist, Gt, Lt.
    Label selector operators: In, NotIn, Exists, DoesNotExist.
    """

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """Requirements that must all hold (terms of a required node affinity are ORed)."""

    match_expressions: tuple[Requirement, ...] = ()
    match_fields: tuple[Requirement, ...] = ()  # only metadata.name is defined


@dataclass(frozen=True, slots=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    """A required pod (anti-)affinity term.

    The pods it selects live in ``namespaces`` or in a namespace whose labels
    ``namespace_selector`` matches (an empty selector matches every namespace); with neither,
    in the pod's own namespace. ``matchLabelKeys`` and ``mismatchLabelKeys`` are already merged
    into ``selector``, as the API server does.
    """

    selector: LabelSelector
    topology_key: str = HOSTNAME_LABEL
    namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = None


@dataclass(frozen=True, slots=True)
class TopologySpreadConstraint:
    """A ``whenUnsatisfiable: DoNotSchedule`` topology spread constraint.

    ``ScheduleAnyway`` constraints only score, so they are not kept. ``selector`` has the
    pod's ``matchLabelKeys`` merged in. The policies say whether the pod's node affinity and
    its tolerations decide which nodes count (upstream defaults: Honor and Ignore).
    """

    max_skew: int
    topology_key: str
    selector: LabelSelector
    min_domains: int = 1
    honor_node_affinity: bool = True
    honor_node_taints: bool = False


@dataclass(frozen=True, slots=True)
class HostPort:
    port: int
    protocol: str = "TCP"
    host_ip: str = "0.0.0.0"


class PodPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    uid: str = ""
    # Effective requests: max(sum of containers, largest init container) plus pod overhead.
    # The pod's own slot (pods=1) is not included; predicates add it.
    requests: Resources = EMPTY
    labels: Mapping[str, str] = field(default_factory=dict)
    node_name: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    required_node_affinity: tuple[NodeSelectorTerm, ...] = ()  # ORed; empty means none
    tolerations: tuple[Toleration, ...] = ()
    required_anti_affinity: tuple[PodAffinityTerm, ...] = ()
    required_affinity: tuple[PodAffinityTerm, ...] = ()
    topology_spread: tuple[TopologySpreadConstraint, ...] = ()
    host_ports: tuple[HostPort, ...] = ()
    owner_kind: str | None = None  # ReplicaSet, StatefulSet, Job, DaemonSet, ...; None: bare pod
    owner_name: str | None = None
    scheduler_name: str = DEFAULT_SCHEDULER
    phase: PodPhase = PodPhase.PENDING
    unschedulable: bool = False  # condition PodScheduled=False with reason Unschedulable
    unschedulable_since: float | None = None
    terminating: bool = False  # deletionTimestamp set
    scheduling_gated: bool = False  # spec.schedulingGates not empty
    priority: int = 0
    do_not_disrupt: bool = False
    safe_to_evict: bool | None = None  # explicit annotation; None when absent
    local_storage: bool = False  # emptyDir (not Memory medium) or hostPath volumes
    # PersistentVolumeClaims it mounts, by name in its namespace (generic ephemeral volumes as
    # <pod>-<volume>); their volumes' topology joins required_node_affinity in a decision.
    claims: tuple[str, ...] = ()
    # Why no node can take the pod now, whatever its capacity (e.g. an unbound Immediate
    # claim); "" when nothing but the node itself decides.
    blocked: str = ""
    created: float = 0.0
    # Field paths the model could not read (a value it does not understand, a malformed
    # field). The pod is kept: bound, it counts with the requests that could be read and
    # keeps its node; pending, it is not planned for (see core.unmodelled).
    unmodelled: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def is_daemonset_pod(self) -> bool:
        return self.owner_kind == "DaemonSet"


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    allocatable: Resources
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    ready: bool = True
    unschedulable: bool = False  # cordoned
    deleting: bool = False
    created: float = 0.0
    # The autoscaler's record of a disruption in progress (kvpool.io/disruption), if it parses.
    disruption: DisruptionRecord | None = None
    unmodelled: tuple[str, ...] = ()  # field paths the model could not read, as for Pod
    ready_since: float | None = None  # the Ready condition's last transition, when Ready

    @property
    def seen_since(self) -> float:
        """Since when the tenant's scheduler has had this node to place pods on: its Ready
        time, or its creation when that is unknown."""
        return self.ready_since if self.ready_since is not None else self.created

    @property
    def pool(self) -> str | None:
        """The NodePool that owns this node, or None for nodes we do not manage."""
        return self.labels.get(POOL_LABEL)

    @property
    def image_hash(self) -> str | None:
        return self.labels.get(IMAGE_HASH_LABEL)


class VMPhase(StrEnum):
    """Where a VirtualMachine is on its way to becoming a Ready node (and back)."""

    PROVISIONING = "Provisioning"  # image being cloned (DataVolume not ready)
    PENDING = "Pending"  # waiting for a host with room
    SCHEDULED = "Scheduled"  # on a host, booting
    RUNNING = "Running"  # VMI running; the Node may not be registered yet
    FAILED = "Failed"
    DELETING = "Deleting"


@dataclass(frozen=True, slots=True)
class Zone:
    """Where a bare-metal host is: its zone and region labels ("" when it has none).

    A VM planned in a zone is pinned to hosts with these labels and its Node registers with
    them; :data:`NO_ZONE` (hosts without either label) pins nothing and labels nothing.
    """

    name: str = ""
    region: str = ""

    @property
    def labels(self) -> dict[str, str]:
        """The labels a node (or host) in this zone carries."""
        labels = {}
        if self.region:
            labels[REGION_LABEL] = self.region
        if self.name:
            labels[ZONE_LABEL] = self.name
        return labels

    def __str__(self) -> str:
        if not self.name and not self.region:
            return "no zone"
        return "/".join(part for part in (self.region, self.name) if part)


NO_ZONE = Zone()


@dataclass(frozen=True, slots=True)
class VirtualMachine:
    """The core's view of one worker VM of this tenant."""

    name: str
    pool: str
    shape: Shape
    image_hash: str
    created: float
    phase: VMPhase = VMPhase.PENDING
    phase_since: float = 0.0
    host: str | None = None
    node_name: str | None = None  # the Node it registered as, once it has
    reason: str = ""  # why it is in this phase, when the backend says (e.g. Unschedulable)
    zone: Zone = NO_ZONE  # the zone it is pinned to; its Node registers with these labels
    replaces: tuple[str, ...] = ()  # nodes this VM was launched to replace (consolidation)


@dataclass(frozen=True, slots=True)
class Host:
    """A bare-metal host of the management cluster that can run VMs."""

    name: str
    allocatable: Resources  # cpu and memory the host offers to virt-launcher pods
    allocated: Resources = EMPTY  # already taken by running VMs and reservations (with overhead)
    schedulable: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def free(self) -> Resources:
        return (self.allocatable - self.allocated).clamp_negative()

    @property
    def zone(self) -> Zone:
        return Zone(self.labels.get(ZONE_LABEL, ""), self.labels.get(REGION_LABEL, ""))


@dataclass(frozen=True, slots=True)
class DaemonSet:
    """A DaemonSet of the tenant: a pod of its template lands on every node it matches."""

    namespace: str
    name: str
    template: Pod


@dataclass(frozen=True, slots=True)
class Namespace:
    """A namespace of the tenant: its labels decide which pod affinity terms reach it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PodDisruptionBudget:
    namespace: str
    name: str
    selector: LabelSelector
    disruptions_allowed: int  # status.disruptionsAllowed as the API server computed it
    unmodelled: tuple[str, ...] = ()  # field paths that could not be read, as for Pod


class VolumeBindingMode(StrEnum):
    IMMEDIATE = "Immediate"
    WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


@dataclass(frozen=True, slots=True)
class StorageClass:
    name: str
    provisioner: str = ""
    binding_mode: VolumeBindingMode | None = None  # None: not set (the API server defaults it)
    # allowedTopologies: ORed terms of In requirements; empty means everywhere.
    allowed_topologies: tuple[NodeSelectorTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class PersistentVolume:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    node_affinity: tuple[NodeSelectorTerm, ...] = ()  # spec.nodeAffinity.required; ORed
    storage_class: str = ""
    capacity: int = 0  # bytes of spec.capacity.storage
    access_modes: tuple[str, ...] = ()
    volume_mode: str = "Filesystem"
    claim: str | None = None  # namespace/name of spec.claimRef, when set
    phase: str = ""
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class PersistentVolumeClaim:
    namespace: str
    name: str
    storage_class: str = ""  # the beta annotation, else spec.storageClassName, else ""
    volume_name: str = ""  # spec.volumeName
    bind_completed: bool = False  # annotation pv.kubernetes.io/bind-completed
    access_modes: tuple[str, ...] = ()
    requested: int = 0  # bytes of spec.resources.requests.storage
    volume_mode: str = "Filesystem"
    selector: LabelSelector | None = None
    phase: str = ""
    deleting: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Pool:
    """A NodePool of the tenant. ``settings`` is None when its annotations are invalid."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)  # spec.template.labels
    taints: tuple[Taint, ...] = ()  # spec.template.taints
    settings: PoolSettings | None = None
    error: str | None = None  # why the pool is disabled, when it is
    image_hash: str | None = None  # digest of the image the pool asks for now


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one decision of one tenant sees; built only after every cache has synced."""

    tenant: str
    pods: tuple[Pod, ...]
    nodes: tuple[Node, ...]
    vms: tuple[VirtualMachine, ...]
    pools: tuple[Pool, ...]
    hosts: tuple[Host, ...]
    shape_bounds: ShapeBounds
    limits: TenantLimits = field(default_factory=TenantLimits)
    daemonsets: tuple[DaemonSet, ...] = ()
    pdbs: tuple[PodDisruptionBudget, ...] = ()
    claims: tuple[PersistentVolumeClaim, ...] = ()
    volumes: tuple[PersistentVolume, ...] = ()
    storage_classes: tuple[StorageClass, ...] = ()
    # Namespace name -> its labels, for pod affinity terms with a namespaceSelector; a
    # namespace missing here has no labels.
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
