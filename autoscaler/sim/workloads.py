"""The tenant's workload controllers: Deployments on a replica schedule, Jobs, DaemonSets.

Like the real controllers they only create and delete pods: a Deployment keeps its number of
live pods at the schedule's value (replacing pods that were evicted or killed), a Job's pod
runs for a drawn duration and finishes, and a DaemonSet puts one pod on every node it matches.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from autoscaler.core.model import (
    DaemonSet,
    LabelSelector,
    Pod,
    PodAffinityTerm,
    PodDisruptionBudget,
    PodPhase,
    TaintEffect,
    Toleration,
)
from autoscaler.core.predicates import selector_mismatch, taint_mismatch
from autoscaler.sim.delays import draw
from autoscaler.sim.engine import Engine, RandomStreams
from autoscaler.sim.scenario_workloads import (
    DaemonSetSpec,
    Deployment,
    DisruptionBudgetSpec,
    JobSpec,
    PodSpec,
    ReplicaSchedule,
)
from autoscaler.sim.world import SimNode, SimWorld

APP_LABEL = "app"


def pod_template(namespace: str, owner: str, spec: PodSpec, owner_kind: str) -> Pod:
    """The pod a workload stamps out (name and creation time are filled in per pod)."""
    selector = LabelSelector(match_labels=((APP_LABEL, owner),))
    return Pod(
        namespace=namespace,
        name=owner,
        requests=spec.resources,
        labels={APP_LABEL: owner},
        node_selector=dict(spec.node_selector),
        tolerations=tuple(
            Toleration(
                key=t.key,
                operator=t.operator,
                value=t.value,
                effect=TaintEffect(t.effect) if t.effect else None,
            )
            for t in spec.tolerations
        ),
        required_anti_affinity=(PodAffinityTerm(selector),) if spec.spread_by_hostname else (),
        owner_kind=owner_kind,
        owner_name=owner,
        do_not_disrupt=spec.do_not_disrupt,
        priority=spec.priority,
    )


def scaled(value: int | str, total: int) -> int:
    """An int-or-percent PDB field against ``total`` pods, rounded up as the API server does."""
    if isinstance(value, int):
        return value
    return math.ceil(int(value.rstrip("%")) * total / 100)


def desired_healthy(budget: DisruptionBudgetSpec, expected: int) -> int:
    if budget.min_available is not None:
        return scaled(budget.min_available, expected)
    assert budget.max_unavailable is not None
    return max(0, expected - scaled(budget.max_unavailable, expected))


@dataclass
class DeploymentState:
    spec: Deployment
    schedule: ReplicaSchedule
    template: Pod
    target: int = 0
    pods: dict[str, None] = field(default_factory=dict)  # live pod keys, in creation order

    @property
    def key(self) -> str:
        return f"{self.spec.namespace}/{self.spec.name}"


class Workloads:
    def __init__(
        self,
        engine: Engine,
        world: SimWorld,
        streams: RandomStreams,
        deployments: tuple[Deployment, ...],
        jobs: tuple[JobSpec, ...],
        daemonsets: tuple[DaemonSetSpec, ...],
    ) -> None:
        self._engine = engine
        self._world = world
        self._durations = streams("job-durations")
        self._serial = 0
        self.pods_created = 0
        self.deployments = {
            f"{d.namespace}/{d.name}": DeploymentState(
                d, d.replicas, pod_template(d.namespace, d.name, d.pod, "ReplicaSet")
            )
            for d in deployments
        }
        self._by_owner = {state.spec.name: state for state in self.deployments.values()}
        self.jobs = {j.name: j for j in jobs}
        self._job_templates = {
            j.name: pod_template(j.namespace, j.name, j.pod, "Job") for j in jobs
        }
        world.daemonsets = tuple(
            DaemonSet(d.namespace, d.name, pod_template(d.namespace, d.name, d.pod, "DaemonSet"))
            for d in daemonsets
        )
        world.pod_listeners.append(self._pod_gone)
        world.start_listeners.append(self._pod_started)

    def start(self) -> None:
        for state in self.deployments.values():
            self._follow_schedule(state)
        for job in self.jobs.values():
            arrivals = job.arrivals
            if arrivals is None:
                continue
            self._engine.every(
                arrivals.every,
                lambda job=job: self._arrive(job),  # type: ignore[misc]
                priority=2,
                start=arrivals.start,
            )

    # Deployments -----------------------------------------------------------------------------
    def set_schedule(self, key: str, schedule: ReplicaSchedule) -> None:
        state = self.deployments[key]
        state.schedule = schedule
        self._follow_schedule(state)

    def _follow_schedule(self, state: DeploymentState) -> None:
        schedule = state.schedule
        self._reconcile(state)
        now = self._engine.now
        for at in schedule.change_times():
            if at > now:
                self._engine.at(at, lambda: self._reconcile_if(state, schedule), priority=2)
        if schedule.changes_continuously:
            self._engine.after(schedule.resync, lambda: self._resync(state, schedule), priority=2)

    def _reconcile_if(self, state: DeploymentState, schedule: ReplicaSchedule) -> None:
        if state.schedule is schedule:
            self._reconcile(state)

    def _resync(self, state: DeploymentState, schedule: ReplicaSchedule) -> None:
        if state.schedule is not schedule:
            return
        self._reconcile(state)
        self._engine.after(schedule.resync, lambda: self._resync(state, schedule), priority=2)

    def _reconcile(self, state: DeploymentState) -> None:
        state.target = state.schedule.value_at(self._engine.now)
        missing = state.target - len(state.pods)
        for _ in range(missing):
            key = self._create(state.template)
            state.pods[key] = None
        if missing < 0:
            self._scale_in(state, -missing)

    def _scale_in(self, state: DeploymentState, count: int) -> None:
        """Delete unscheduled pods first, then the newest, as a ReplicaSet does."""
        pods = self._world.pods
        keys = list(state.pods)
        unbound = [k for k in reversed(keys) if pods[k].node_name is None]
        bound = [k for k in reversed(keys) if pods[k].node_name is not None]
        for key in (unbound + bound)[:count]:
            del state.pods[key]
            self._world.remove_pod(key, "deleted")

    # Jobs ------------------------------------------------------------------------------------
    def _arrive(self, job: JobSpec) -> None:
        arrivals = job.arrivals
        if (
            arrivals is not None
            and arrivals.until is not None
            and self._engine.now > arrivals.until
        ):
            return
        self.submit_jobs(job.name, arrivals.count if arrivals else 1)

    def submit_jobs(self, name: str, count: int) -> None:
        template = self._job_templates[name]
        for _ in range(count):
            self._create(template)

    # Pods ------------------------------------------------------------------------------------
    def _create(self, template: Pod) -> str:
        self._serial += 1
        self.pods_created += 1
        pod = dataclasses.replace(
            template,
            name=f"{template.owner_name}-{self._serial:07d}",
            uid=f"uid-{self._serial}",
            created=self._engine.now,
        )
        self._world.add_pod(pod)
        return pod.key

    def _pod_gone(self, pod: Pod, why: str) -> None:
        if pod.owner_kind == "ReplicaSet":
            state = self._by_owner.get(pod.owner_name or "")
            if state is not None and pod.key in state.pods:
                del state.pods[pod.key]
                self._reconcile(state)
        elif pod.owner_kind == "Job" and why in ("evicted", "killed"):
            self._create(self._job_templates[pod.owner_name or ""])

    def _pod_started(self, pod: Pod) -> None:
        if pod.owner_kind == "Job":
            job = self.jobs[pod.owner_name or ""]
            key = pod.key
            runtime = draw(job.duration, self._durations)
            self._engine.after(runtime, lambda: self._finish(key), priority=1)

    def _finish(self, key: str) -> None:
        pod = self._world.pods.get(key)
        if pod is not None and pod.phase is PodPhase.RUNNING:
            self._world.remove_pod(key, "finished")

    # DaemonSets ------------------------------------------------------------------------------
    def place_daemon_pods(self, node: SimNode) -> None:
        labels, taints = node.node.labels, node.node.taints
        for daemonset in self._world.daemonsets:
            template = daemonset.template
            if selector_mismatch(template, labels) or taint_mismatch(template, taints):
                continue
            pod = dataclasses.replace(
                template,
                name=f"{daemonset.name}-{node.node.name}",
                uid=f"uid-{daemonset.name}-{node.node.name}",
                created=self._engine.now,
            )
            self._world.add_pod(pod)
            self._world.bind(pod.key, node.node.name)

    # Disruption budgets ----------------------------------------------------------------------
    def expected(self, owner: str) -> int:
        state = self._by_owner.get(owner)
        return state.target if state is not None else 0

    def budget(self, owner: str) -> DisruptionBudgetSpec | None:
        state = self._by_owner.get(owner)
        return state.spec.pdb if state is not None else None

    def budgeted_owners(self) -> list[str]:
        return sorted(name for name, s in self._by_owner.items() if s.spec.pdb is not None)

    def pdb_model(self, owner: str, disruptions_allowed: int) -> PodDisruptionBudget:
        spec = self._by_owner[owner].spec
        return PodDisruptionBudget(
            namespace=spec.namespace,
            name=f"{owner}-pdb",
            selector=LabelSelector(match_labels=((APP_LABEL, owner),)),
            disruptions_allowed=disruptions_allowed,
        )
