"""The kubevirt agent: plays KubeVirt, CDI and each VM's kubelet against real API servers.

For every VirtualMachine it sees in the management cluster it clones the DataVolumes of its
``dataVolumeTemplates``, creates the VirtualMachineInstance and walks it Pending -> Scheduled
(on a bare-metal host with room, see :mod:`hosts`) -> Running, then registers the tenant Node
that the VM's user data asks for and marks it Ready, each step after a configurable delay.
Deleting the VM removes the VMI, DataVolumes, virt-launcher pod and the tenant Node. Once a Node
has joined, cordoning or deleting it is left to the controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from dataclasses import dataclass
from typing import Any, Final

from autoscaler.api.policy import Shape
from autoscaler.api.timestamps import rfc3339
from autoscaler.core.model import Node
from autoscaler.kube.convert import node_from_dict
from autoscaler.kube.informer import EventType
from autoscaler.providers.host_capacity import SCHEDULABLE_LABEL
from autoscaler.providers.kubevirt_status import shape_of
from autoscaler.rawjson import MERGE_PATCH
from testbed.agents import kubevirt_objects as objects
from testbed.agents.base import Agent, ClientSource
from testbed.agents.calls import (
    CDI,
    DATA_VOLUMES,
    KUBEVIRT,
    STRATEGIC_MERGE_PATCH,
    VMIS,
    VMS,
    AgentCallError,
    Cluster,
    JsonDict,
)
from testbed.agents.hosts import HostPod, HostPodLedger, VMDemand, host_pod_from_dict, vm_demand
from testbed.agents.kubevirt_config import KubevirtAgentConfig
from testbed.agents.userdata import Registration, UserDataError, registration
from testbed.agents.vm_cleanup import delete_management_objects, find_node
from testbed.agents.vm_user_data import vm_user_data

log = logging.getLogger(__name__)

STRICT: Final = "Strict"


@dataclass(eq=False)
class _Tracked:
    """One VirtualMachine (by uid) and the work the agent does for it."""

    key: str
    uid: str
    vm: JsonDict
    bring_up: asyncio.Task[None] | None = None
    tear_down: asyncio.Task[None] | None = None
    halted: bool = False
    launcher_key: str | None = None
    node_name: str | None = None

    @property
    def namespace(self) -> str:
        return self.key.partition("/")[0]

    @property
    def name(self) -> str:
        return self.key.partition("/")[2]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _halted(vm: JsonDict) -> bool:
    spec = _dict(vm.get("spec"))
    return spec.get("runStrategy") == "Halted" or spec.get("running") is False


def _vm_key(vm: JsonDict) -> str:
    meta = _dict(vm.get("metadata"))
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


class KubevirtAgent(Agent):
    """``async with KubevirtAgent(management, tenant, config):`` VMs become Nodes."""

    kind = "kubevirt-agent"

    def __init__(
        self,
        management: ClientSource,
        tenant: ClientSource,
        config: KubevirtAgentConfig | None = None,
        *,
        sync_timeout: float = 30.0,
    ) -> None:
        super().__init__(sync_timeout=sync_timeout)
        self.config = config or KubevirtAgentConfig()
        self._sources = (management, tenant)
        self.ledger = HostPodLedger()
        self._vms: dict[str, _Tracked] = {}
        self._capacity = asyncio.Event()
        self._synced = asyncio.Event()

    # Setup ----------------------------------------------------------------------------------
    async def _setup(self) -> None:
        rng = random.Random(self.config.seed)
        self._synced.clear()
        self._vms.clear()
        self.ledger = HostPodLedger()
        self.management = Cluster(await self._client(self._sources[0]), "management", rng=rng)
        self.tenant = Cluster(await self._client(self._sources[1]), "tenant", rng=rng)
        custom, core = self.management.custom, self.management.core
        namespace = self.config.namespace
        if namespace:
            list_vms = functools.partial(
                custom.list_namespaced_custom_object, *KUBEVIRT, namespace, VMS
            )
        else:
            list_vms = functools.partial(custom.list_cluster_custom_object, *KUBEVIRT, VMS)
        selector = {"label_selector": self.config.label_selector}
        self._informer("virtualmachines", list_vms, dict, self._on_vm, selector)
        host_selector = {"label_selector": f"{SCHEDULABLE_LABEL}=true"}
        self._informer("hosts", core.list_node, node_from_dict, self._on_host, host_selector)
        self._informer(
            "host pods", core.list_pod_for_all_namespaces, host_pod_from_dict, self._on_pod
        )

    def _run(self) -> None:
        self._synced.set()

    # Cache events (synchronous: they only record and start tasks) ----------------------------
    def _on_host(self, kind: EventType, key: str, node: Node) -> None:
        if kind is EventType.DELETED:
            self.ledger.remove_host(node.name)
        else:
            self.ledger.set_host(node)
        self._capacity_changed()

    def _on_pod(self, kind: EventType, key: str, pod: HostPod) -> None:
        if kind is EventType.DELETED:
            self.ledger.remove_pod(key)
            self._capacity_changed()
        else:
            self.ledger.track(key, pod)
            if not pod.active:
                self._capacity_changed()

    def _capacity_changed(self) -> None:
        self._capacity.set()
        self._capacity = asyncio.Event()

    def _on_vm(self, kind: EventType, key: str, vm: JsonDict) -> None:
        meta = _dict(vm.get("metadata"))
        uid = str(meta.get("uid") or "")
        tracked = self._vms.get(key)
        if kind is EventType.DELETED or meta.get("deletionTimestamp"):
            if tracked is None:  # deleted while this agent was not running
                tracked = self._vms[key] = _Tracked(key, uid, vm)
            if tracked.uid == uid:
                self._tear_down(tracked)
            return
        if tracked is not None and tracked.uid == uid:
            tracked.vm = vm
            if tracked.halted and not _halted(vm):
                tracked.halted = False
                tracked.bring_up = self._spawn(self._bring_up(tracked, None), f"start {key}")
            return
        # New, or deleted and created again under the same name (the delete maybe unseen).
        previous = self._tear_down(tracked) if tracked is not None else None
        tracked = self._vms[key] = _Tracked(key, uid, vm)
        tracked.bring_up = self._spawn(self._bring_up(tracked, previous), f"start {key}")

    def _tear_down(self, tracked: _Tracked) -> asyncio.Task[None]:
        if tracked.tear_down is None:
            if tracked.bring_up is not None:
                tracked.bring_up.cancel()
            tracked.tear_down = self._spawn(self._remove(tracked), f"remove {tracked.key}")
        return tracked.tear_down

    # Bringing a VM up -----------------------------------------------------------------------
    def _now(self) -> str:
        return rfc3339(self.config.clock())

    async def _pause(self, rng: random.Random, seconds: float) -> None:
        jitter = self.config.timing.jitter
        if jitter:
            seconds *= 1 + rng.uniform(-jitter, jitter)
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def _bring_up(self, tracked: _Tracked, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        await self._synced.wait()
        try:
            await self._walk(tracked)
        except AgentCallError as error:
            log.warning("VM %s: giving up: %s", tracked.key, error)

    async def _walk(self, tracked: _Tracked) -> None:
        vm, timing, failures = tracked.vm, self.config.timing, self.config.failures
        if _halted(vm):
            tracked.halted = True
            return
        try:
            demand = vm_demand(vm)
            shape = shape_of(vm)
        except ValueError as error:
            log.warning("VM %s cannot start: %s", tracked.key, error)
            return
        rng = random.Random(f"{self.config.seed}/{tracked.key}")
        await self._provision(tracked, rng)
        vmi = await self._ensure_vmi(tracked)
        phase = objects.vmi_phase(vmi)
        host = _dict(vmi.get("status")).get("nodeName")
        if phase in ("Scheduled", "Running") and isinstance(host, str) and host:
            self._reserve(tracked, vmi, host, demand)  # picked up after a restart
        else:
            await self._pause(rng, timing.schedule)
            host = await self._wait_for_host(tracked, vmi, demand)
            vmi = await self._schedule(tracked, vmi, host, demand)
        if failures.stops_before_running(tracked.name):
            log.info("VM %s: failure injected, it stays Scheduled", tracked.key)
            return
        if objects.vmi_phase(vmi) != "Running":
            await self._pause(rng, timing.boot)
            vmi = await self._start(tracked, vmi)
        if failures.stops_before_registering(tracked.name):
            log.info("VM %s: failure injected, its Node never registers", tracked.key)
            return
        known = _dict(_dict(vmi.get("metadata")).get("annotations")).get(objects.NODE_ANNOTATION)
        if known:
            tracked.node_name = str(known)
            return
        await self._pause(rng, timing.register)
        joined = await self._registration(tracked)
        if joined is None or not await self._register(tracked, joined, shape):
            return
        await self._pause(rng, timing.ready)
        await self.tenant.call(
            self.tenant.core.patch_node_status,
            joined.node_name,
            {"status": {"conditions": [objects.node_ready_condition(True, self._now())]}},
            what=f"mark Node {joined.node_name} Ready",
            missing_ok=True,
            _content_type=STRATEGIC_MERGE_PATCH,
        )
        await self._patch_vmi(
            tracked, {"metadata": {"annotations": {objects.NODE_ANNOTATION: joined.node_name}}}
        )

    async def _provision(self, tracked: _Tracked, rng: random.Random) -> None:
        templates = objects.data_volume_templates(tracked.vm)
        if not templates:
            return
        await self._vm_status(tracked, "Provisioning", created=False, ready=False)
        custom = self.management.custom
        for template in templates:
            body = objects.data_volume(tracked.vm, template)
            name = body["metadata"]["name"]
            what = f"DataVolume {tracked.namespace}/{name}"
            current = await self.management.call(
                custom.get_namespaced_custom_object,
                *CDI,
                tracked.namespace,
                DATA_VOLUMES,
                name,
                what=f"get {what}",
                missing_ok=True,
            )
            if _dict((current or {}).get("status")).get("phase") == "Succeeded":
                continue
            if current is None:
                await self.management.call(
                    custom.create_namespaced_custom_object,
                    *CDI,
                    tracked.namespace,
                    DATA_VOLUMES,
                    body,
                    what=f"create {what}",
                    exists_ok=True,
                    field_validation=STRICT,
                )
            cloning = "pvc" in _dict(_dict(body["spec"]).get("source"))
            await self._dv_status(
                tracked, name, "CloneInProgress" if cloning else "ImportInProgress", "0.00%"
            )
            await self._pause(rng, self.config.timing.data_volume)
            await self._dv_status(tracked, name, "Succeeded", "100.0%")

    async def _dv_status(self, tracked: _Tracked, name: str, phase: str, progress: str) -> None:
        await self.management.call(
            self.management.custom.patch_namespaced_custom_object_status,
            *CDI,
            tracked.namespace,
            DATA_VOLUMES,
            name,
            {"status": {"phase": phase, "progress": progress, "claimName": name}},
            what=f"set DataVolume {tracked.namespace}/{name} {phase}",
            missing_ok=True,
            _content_type=MERGE_PATCH,
            field_validation=STRICT,
        )

    async def _ensure_vmi(self, tracked: _Tracked) -> JsonDict:
        custom = self.management.custom
        what = f"VirtualMachineInstance {tracked.key}"
        created = await self.management.call(
            custom.create_namespaced_custom_object,
            *KUBEVIRT,
            tracked.namespace,
            VMIS,
            objects.virtual_machine_instance(tracked.vm, self._now()),
            what=f"create {what}",
            exists_ok=True,
            field_validation=STRICT,
        )
        if created is not None:
            await self._vm_status(tracked, "Starting", created=True, ready=False)
            return created
        return await self.management.require(
            custom.get_namespaced_custom_object,
            *KUBEVIRT,
            tracked.namespace,
            VMIS,
            tracked.name,
            what=f"get {what}",
        )

    def _reserve(self, tracked: _Tracked, vmi: JsonDict, host: str, demand: VMDemand) -> None:
        uid = str(_dict(vmi.get("metadata")).get("uid") or tracked.name)
        name = objects.launcher_pod_name(tracked.name, uid)
        tracked.launcher_key = f"{tracked.namespace}/{name}"
        self.ledger.set_pod(tracked.launcher_key, host, demand.requests)

    async def _wait_for_host(self, tracked: _Tracked, vmi: JsonDict, demand: VMDemand) -> str:
        """Reserve the first host with room, waiting (Unschedulable) until one has."""
        reported: str | None = None
        since = self._now()
        while True:
            changed = self._capacity
            placement = self.ledger.choose(demand)
            if placement.host is not None:
                self._reserve(tracked, vmi, placement.host, demand)
                return placement.host
            if placement.message != reported:
                reported = placement.message
                log.info("VM %s is unschedulable: %s", tracked.key, reported)
                unschedulable = objects.condition(
                    "PodScheduled", False, since, "Unschedulable", reported
                )
                status = objects.vmi_status(vmi, "Pending", since, conditions=[unschedulable])
                vmi = await self._patch_vmi(tracked, {"status": status}) or vmi
                await self._vm_status(tracked, "ErrorUnschedulable", created=True, ready=False)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.timing.unschedulable_retry):
                    await changed.wait()

    async def _schedule(
        self, tracked: _Tracked, vmi: JsonDict, host: str, demand: VMDemand
    ) -> JsonDict:
        now = self._now()
        if self.config.launcher_pods:
            body = objects.launcher_pod(vmi, host, demand.requests)
            await self.management.call(
                self.management.core.create_namespaced_pod,
                tracked.namespace,
                body,
                what=f"create virt-launcher pod for {tracked.key}",
                exists_ok=True,
            )
        ready = objects.condition("Ready", False, now, "GuestNotRunning")
        status = objects.vmi_status(vmi, "Scheduled", now, node_name=host, conditions=[ready])
        patched = await self._patch_vmi(tracked, {"status": status})
        await self._vm_status(tracked, "Starting", created=True, ready=False)
        return patched or vmi

    async def _start(self, tracked: _Tracked, vmi: JsonDict) -> JsonDict:
        now = self._now()
        if self.config.launcher_pods and tracked.launcher_key:
            name = tracked.launcher_key.partition("/")[2]
            await self.management.call(
                self.management.core.patch_namespaced_pod_status,
                name,
                tracked.namespace,
                {"status": objects.running_pod_status(now)},
                what=f"mark pod {tracked.launcher_key} Running",
                missing_ok=True,
                _content_type=STRATEGIC_MERGE_PATCH,
            )
        ready = objects.condition("Ready", True, now)
        status = objects.vmi_status(vmi, "Running", now, conditions=[ready])
        patched = await self._patch_vmi(tracked, {"status": status})
        await self._vm_status(tracked, "Running", created=True, ready=True)
        log.info("VM %s is Running", tracked.key)
        return patched or vmi

    async def _patch_vmi(self, tracked: _Tracked, patch: JsonDict) -> JsonDict | None:
        return await self.management.call(
            self.management.custom.patch_namespaced_custom_object,
            *KUBEVIRT,
            tracked.namespace,
            VMIS,
            tracked.name,
            patch,
            what=f"patch VirtualMachineInstance {tracked.key}",
            missing_ok=True,
            _content_type=MERGE_PATCH,
            field_validation=STRICT,
        )

    async def _vm_status(
        self, tracked: _Tracked, printable: str, *, created: bool, ready: bool
    ) -> None:
        status = objects.vm_status(printable, created=created, ready=ready, now=self._now())
        await self.management.call(
            self.management.custom.patch_namespaced_custom_object_status,
            *KUBEVIRT,
            tracked.namespace,
            VMS,
            tracked.name,
            {"status": status},
            what=f"set VirtualMachine {tracked.key} {printable}",
            missing_ok=True,
            _content_type=MERGE_PATCH,
            field_validation=STRICT,
        )

    # Joining the tenant -----------------------------------------------------------------------
    async def _registration(self, tracked: _Tracked) -> Registration | None:
        """What the VM's kubelet registers as; None (logged) when its user data is unusable."""
        try:
            text = await vm_user_data(
                self.management, tracked.vm, tracked.namespace, self.config.user_data_wait
            )
            return registration(text, tracked.name) if text else Registration(tracked.name)
        except UserDataError as error:
            log.warning("VM %s never joins: its user data is unusable: %s", tracked.key, error)
            return None

    async def _register(self, tracked: _Tracked, joined: Registration, shape: Shape) -> bool:
        body = objects.tenant_node(joined, tracked.name, shape, self.config.max_pods, self._now())
        created = await self.tenant.call(
            self.tenant.core.create_node,
            body,
            what=f"register Node {joined.node_name}",
            exists_ok=True,
        )
        if created is None:
            existing = await self.tenant.call(
                self.tenant.core.read_node,
                joined.node_name,
                what=f"read Node {joined.node_name}",
                missing_ok=True,
            )
            wanted = body["spec"]["providerID"]
            if existing is None or _dict(existing.get("spec")).get("providerID") != wanted:
                log.warning(
                    "VM %s cannot register: Node %s exists with another providerID",
                    tracked.key,
                    joined.node_name,
                )
                return False
        tracked.node_name = joined.node_name
        log.info("VM %s registered Node %s", tracked.key, joined.node_name)
        return True

    # Removing a VM --------------------------------------------------------------------------
    async def _remove(self, tracked: _Tracked) -> None:
        try:
            if tracked.bring_up is not None:
                await asyncio.wait([tracked.bring_up])
            rng = random.Random(f"{self.config.seed}/{tracked.key}/delete")
            await self._pause(rng, self.config.timing.delete)
            await delete_management_objects(
                self.management, tracked.vm, tracked.namespace, tracked.name
            )
            await self._delete_node(tracked)
            log.info("VM %s removed", tracked.key)
        except AgentCallError as error:
            log.warning("VM %s: removal incomplete: %s", tracked.key, error)
        finally:
            if tracked.launcher_key is not None:
                self.ledger.remove_pod(tracked.launcher_key)
                self._capacity_changed()
            if self._vms.get(tracked.key) is tracked:
                del self._vms[tracked.key]

    async def _delete_node(self, tracked: _Tracked) -> None:
        tenant = self.tenant
        name = tracked.node_name or await find_node(self.tenant, tracked.name)
        if name is None:
            return
        await tenant.call(
            tenant.core.delete_node, name, what=f"delete Node {name}", missing_ok=True
        )

    # For tests and tools ----------------------------------------------------------------------
    @property
    def tracked(self) -> list[str]:
        """The VMs (namespace/name) the agent is working on or watching."""
        return sorted(self._vms)
