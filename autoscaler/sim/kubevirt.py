"""Simulated KubeVirt on bare-metal hosts: VMs wait for a host, boot, register a Node, go away.

A VM takes ``host_footprint(shape)`` of one host or stays Pending until some host has room.
Booting takes a drawn delay; a configured share fails (VMPhase.FAILED) and another share boots
but never registers a Node. A VM pinned to a zone goes only on hosts with that zone's labels.
A registered Node has ``node_allocatable(shape)``, the pool's template labels and taints, the
zone labels and the ``kvpool.io`` labels, and turns Ready after another delay.
A configured share of Ready nodes crash after a drawn time: the node goes NotReady for good, its
pods stop running, and the tenant's node lifecycle controller evicts them after the default
NotReady toleration (DaemonSet pods tolerate it and stay).
Deleting a VM kills what runs on its node at once and frees the host after a drawn delay.
"""

from __future__ import annotations

from collections.abc import Callable

from autoscaler.api.policy import Shape
from autoscaler.core.future_node import future_node_labels
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    IMAGE_HASH_LABEL,
    NO_ZONE,
    POOL_LABEL,
    SHAPE_LABEL,
    TENANT_LABEL,
    Node,
    PodPhase,
    VMPhase,
    Zone,
)
from autoscaler.core.overhead import host_footprint, node_allocatable
from autoscaler.sim.delays import draw
from autoscaler.sim.engine import Engine, RandomStreams
from autoscaler.sim.scenario import VirtualMachines
from autoscaler.sim.world import SimHost, SimNode, SimVM, SimWorld

# How long pods tolerate node.kubernetes.io/not-ready and /unreachable by default
# (the DefaultTolerationSeconds admission plugin) before the taint evicts them.
NOT_READY_TOLERATION = 300.0


class KubeVirt:
    def __init__(
        self,
        engine: Engine,
        world: SimWorld,
        streams: RandomStreams,
        settings: VirtualMachines,
        on_node_registered: Callable[[SimNode], None],
        on_pod_killed: Callable[[str], None],
    ) -> None:
        self._engine = engine
        self._world = world
        self._settings = settings
        self._boot = streams("vm-boot")
        self._register = streams("vm-register")
        self._ready = streams("vm-ready")
        self._delete = streams("vm-delete")
        self._failures = streams("vm-failures")
        self._crashes = streams("vm-crashes")
        self._on_node_registered = on_node_registered
        self._on_pod_killed = on_pod_killed
        self._serial = 0
        self.launched = 0
        self.deleted = 0
        self.failed = 0  # failed to boot or never registered a Node
        self.crashed: list[str] = []  # VMs whose node went NotReady for good, in order
        self.peak = 0

    # Creation and placement ------------------------------------------------------------------
    def launch(
        self,
        pool: str,
        shape: Shape,
        image_hash: str,
        host_hint: str | None,
        zone: Zone = NO_ZONE,
    ) -> SimVM:
        self._serial += 1
        now = self._engine.now
        vm = SimVM(
            name=f"{self._world.tenant}-{pool}-{self._serial:05d}",
            pool=pool,
            shape=shape,
            image_hash=image_hash,
            created=now,
            footprint=host_footprint(shape),
            phase=VMPhase.PENDING,
            phase_since=now,
            zone=zone,
        )
        self._world.vms[vm.name] = vm
        self._world.touch()
        self.launched += 1
        self.peak = max(self.peak, len(self._world.vms))
        host = self._host_for(vm, host_hint)
        if host is not None:
            self._start(vm, host)
        return vm

    def _host_for(self, vm: SimVM, hint: str | None) -> SimHost | None:
        """The hinted host if it has room, else the first with room; only hosts whose labels
        hold every zone label the VM is pinned to (its nodeSelector)."""
        wanted = vm.zone.labels.items()
        candidates = [
            host for host in self._world.hosts.values() if wanted <= host.zone.labels.items()
        ]
        for host in sorted(candidates, key=lambda h: h.name != hint):
            if vm.footprint.fits_in(host.free):
                return host
        return None

    def _start(self, vm: SimVM, host: SimHost) -> None:
        self._world.place_vm(vm, host)
        self._world.set_vm_phase(vm, VMPhase.SCHEDULED)
        fails = self._failures.random() < self._settings.fail_to_boot
        silent = self._failures.random() < self._settings.never_register
        boot = draw(self._settings.boot_delay, self._boot)
        self._engine.after(boot, lambda: self._booted(vm, fails, silent))

    def _retry_pending(self) -> None:
        for vm in list(self._world.vms.values()):
            if vm.phase is VMPhase.PENDING and vm.host is None:
                host = self._host_for(vm, None)
                if host is not None:
                    self._start(vm, host)

    # Boot ------------------------------------------------------------------------------------
    def _alive(self, vm: SimVM) -> bool:
        return self._world.vms.get(vm.name) is vm and vm.phase is not VMPhase.DELETING

    def _booted(self, vm: SimVM, fails: bool, silent: bool) -> None:
        if not self._alive(vm):
            return
        if fails:
            self.failed += 1
            self._world.set_vm_phase(vm, VMPhase.FAILED)
            return
        self._world.set_vm_phase(vm, VMPhase.RUNNING)
        if silent:
            self.failed += 1
            return
        delay = draw(self._settings.register_delay, self._register)
        self._engine.after(delay, lambda: self._register_node(vm))

    def _register_node(self, vm: SimVM) -> None:
        if not self._alive(vm):
            return
        pool = self._world.pools.get(vm.pool)
        labels = {
            **(future_node_labels(pool, vm.name, zone=vm.zone) if pool is not None else {}),
            **vm.zone.labels,
            POOL_LABEL: vm.pool,
            TENANT_LABEL: self._world.tenant,
            IMAGE_HASH_LABEL: vm.image_hash,
            SHAPE_LABEL: str(vm.shape),
            HOSTNAME_LABEL: vm.name,
        }
        node = Node(
            name=vm.name,
            allocatable=node_allocatable(vm.shape),
            labels=labels,
            taints=pool.taints if pool is not None else (),
            ready=False,
            created=self._engine.now,
        )
        vm.node_name = node.name
        sim = self._world.add_node(node, vm.name)
        self._on_node_registered(sim)
        delay = draw(self._settings.ready_delay, self._ready)
        self._engine.after(delay, lambda: self._node_ready(vm))

    def _node_ready(self, vm: SimVM) -> None:
        if not self._alive(vm) or vm.node_name not in self._world.nodes:
            return
        self._world.update_node(vm.node_name, ready=True, ready_since=self._engine.now)
        for pod in self._world.pods_on(vm.node_name):
            if pod.is_daemonset_pod and pod.phase is PodPhase.PENDING:
                self._world.start_pod(pod.key)
        crash = self._settings.crash_after_ready
        if crash.share > 0 and self._crashes.random() < crash.share:
            self._engine.after(draw(crash.after, self._crashes), lambda: self._crash(vm))

    # Crashes ---------------------------------------------------------------------------------
    def _crash(self, vm: SimVM) -> None:
        node = vm.node_name
        if not self._alive(vm) or node not in self._world.nodes:
            return
        self.crashed.append(vm.name)
        self._world.update_node(node, ready=False, ready_since=None)
        for pod in self._world.pods_on(node):
            self._world.lose_pod(pod.key)
        self._engine.after(NOT_READY_TOLERATION, lambda: self._evict_by_taint(vm))

    def _evict_by_taint(self, vm: SimVM) -> None:
        node = vm.node_name
        if not self._alive(vm) or node not in self._world.nodes:
            return
        for pod in self._world.pods_on(node):
            if not pod.is_daemonset_pod:
                self._on_pod_killed(pod.key)

    # Deletion --------------------------------------------------------------------------------
    def delete(self, name: str) -> bool:
        """Start deleting a VM (idempotent); False when there is no such VM."""
        vm = self._world.vms.get(name)
        if vm is None:
            return False
        if vm.phase is VMPhase.DELETING:
            return True
        self._world.set_vm_phase(vm, VMPhase.DELETING)
        node_name = vm.node_name
        if node_name is not None and node_name in self._world.nodes:
            self._world.update_node(node_name, deleting=True, ready=False)
            for pod in self._world.pods_on(node_name):
                self._on_pod_killed(pod.key)
        delay = draw(self._settings.delete_delay, self._delete) if vm.host else 0.0
        self._engine.after(delay, lambda: self._gone(vm))
        return True

    def _gone(self, vm: SimVM) -> None:
        world = self._world
        if world.vms.get(vm.name) is not vm:
            return
        if vm.node_name is not None and vm.node_name in world.nodes:
            for pod in world.pods_on(vm.node_name):
                world.remove_pod(pod.key, "killed")
            world.remove_node(vm.node_name)
        world.release_vm(vm)
        del world.vms[vm.name]
        world.touch()
        self.deleted += 1
        self._retry_pending()
