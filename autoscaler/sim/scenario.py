"""The scenario file: a documented, strictly validated description of a simulated world.

Every model forbids unknown fields and names the fields it allows, so a misspelt key fails with
the file, the path in the document and what is allowed (see docs/scenarios.md).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from autoscaler.api import models
from autoscaler.api.validation_errors import describe_errors
from autoscaler.core.model import Zone
from autoscaler.sim.scenario_fields import Bytes, Delay, MilliCPU, Seconds, Strict
from autoscaler.sim.scenario_workloads import ReplicaSchedule, Workloads

SCENARIO_PACKAGE = "autoscaler.sim.scenarios"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the file and what is wrong."""


class Tenant(Strict):
    """The tenant's TenantCluster ``spec`` parts that matter to a simulation."""

    name: str = Field(default="team-a", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    shapes: models.Shapes
    limits: models.Limits = models.Limits()
    images: tuple[models.Image, ...] = Field(min_length=1)
    zones: tuple[models.ZoneName, ...] | None = Field(
        default=None, min_length=1, description="zones the tenant's VMs may use; absent: all"
    )

    @field_validator("images")
    @classmethod
    def _unique_images(cls, images: tuple[models.Image, ...]) -> tuple[models.Image, ...]:
        names = [image.name for image in images]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"image names must be unique; repeated: {', '.join(duplicates)}")
        return images


# Infrastructure ----------------------------------------------------------------------------


class HostGroup(Strict):
    name: str = Field(min_length=1, description="prefix; hosts are named <name>-<index>")
    count: int = Field(default=1, ge=1, le=10_000)
    cpu: MilliCPU
    memory: Bytes
    zone: models.ZoneName | None = Field(
        default=None, description="topology.kubernetes.io/zone of these hosts"
    )
    region: models.ZoneName | None = Field(
        default=None, description="topology.kubernetes.io/region of these hosts"
    )

    @property
    def zone_of_hosts(self) -> Zone:
        return Zone(self.zone or "", self.region or "")


class PoolSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    annotations: dict[str, str] = Field(
        default={}, description="kvpool.io/ annotations exactly as a tenant writes them"
    )
    template: models.NodePoolTemplate = models.NodePoolTemplate()


class CrashAfterReady(Strict):
    """A share of the nodes that become Ready go NotReady for good after a drawn time."""

    share: float = Field(default=0.0, ge=0.0, le=1.0)
    after: Delay = Delay(min=30 * 60.0, max=4 * 3600.0)


class VirtualMachines(Strict):
    boot_delay: Delay = Delay(min=40.0, max=90.0)
    register_delay: Delay = Delay(min=5.0, max=15.0)
    ready_delay: Delay = Delay(min=5.0, max=15.0)
    delete_delay: Delay = Delay(min=10.0, max=30.0)
    fail_to_boot: float = Field(default=0.0, ge=0.0, le=1.0)
    never_register: float = Field(default=0.0, ge=0.0, le=1.0)
    crash_after_ready: CrashAfterReady = CrashAfterReady()

    @property
    def boot_time(self) -> float:
        """Upper bound from launch on a host to a Ready node, as the targets measure it."""
        return (
            self.boot_delay.upper_bound
            + self.register_delay.upper_bound
            + self.ready_delay.upper_bound
        )


class BaselineShape(Strict):
    cpu: int = Field(default=8, ge=1, description="whole cores")
    memory: Bytes = 32 * 2**30


# Timed events ------------------------------------------------------------------------------


class ScaleDeployment(Strict):
    name: str
    namespace: str = "default"
    replicas: ReplicaSchedule


class SubmitJobs(Strict):
    name: str
    count: int = Field(ge=1, le=100_000)


class SetPoolAnnotation(Strict):
    pool: str
    key: str = Field(min_length=1)
    value: str | None = Field(description="null removes the annotation")


class TimedEvent(Strict):
    """At ``at``, exactly one of the actions."""

    at: Seconds
    scale_deployment: ScaleDeployment | None = None
    submit_jobs: SubmitJobs | None = None
    set_pool_annotation: SetPoolAnnotation | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TimedEvent:
        given = [
            n
            for n in ("scale_deployment", "submit_jobs", "set_pool_annotation")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of scaleDeployment, submitJobs, setPoolAnnotation")
        return self


# The scenario ------------------------------------------------------------------------------


class Scenario(Strict):
    name: str = "scenario"
    description: str = ""
    duration: Seconds = Field(description="simulated time")
    seed: int = 1
    tenant: Tenant
    hosts: tuple[HostGroup, ...] = Field(min_length=1)
    pools: tuple[PoolSpec, ...] = Field(min_length=1)
    vms: VirtualMachines = VirtualMachines()
    pod_start_delay: Seconds = 2.0
    baseline: BaselineShape = BaselineShape()
    workloads: Workloads = Workloads()
    events: tuple[TimedEvent, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if not 0 < self.duration <= 30 * 86_400:
            raise ValueError("duration must be positive and at most 30 days")
        pools = [p.name for p in self.pools]
        if len(set(pools)) != len(pools):
            raise ValueError("pool names must be unique")
        hosts = [h.name for h in self.hosts]
        if len(set(hosts)) != len(hosts):
            raise ValueError("host group names must be unique")
        deployments = {(d.namespace, d.name) for d in self.workloads.deployments}
        jobs = {j.name for j in self.workloads.jobs}
        for index, event in enumerate(self.events):
            where = f"events[{index}]"
            scale = event.scale_deployment
            if scale is not None and (scale.namespace, scale.name) not in deployments:
                raise ValueError(f"{where}: no deployment {scale.namespace}/{scale.name}")
            if event.submit_jobs is not None and event.submit_jobs.name not in jobs:
                raise ValueError(f"{where}: no job named {event.submit_jobs.name}")
            annotate = event.set_pool_annotation
            if annotate is not None and annotate.pool not in pools:
                raise ValueError(f"{where}: no pool named {annotate.pool}")
        return self

    def with_overrides(self, seed: int | None = None, duration: float | None = None) -> Scenario:
        update: dict[str, Any] = {}
        if seed is not None:
            update["seed"] = seed
        if duration is not None:
            if duration <= 0:
                raise ScenarioError(f"duration must be positive, not {duration}")
            update["duration"] = duration
        return self.model_copy(update=update)


# Loading -----------------------------------------------------------------------------------


def shipped_scenarios() -> list[str]:
    folder = resources.files(SCENARIO_PACKAGE)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def _describe(error: ValidationError, source: str) -> str:
    lines = describe_errors(error, Scenario, top_level="(top level)")
    header = f"{source}: invalid scenario ({error.error_count()} problem(s))"
    return "\n".join([header, *(f"  at {line}" for line in lines)])


def parse_scenario(document: Any, source: str = "<scenario>") -> Scenario:
    """Validate a loaded YAML document; raise ScenarioError naming ``source`` and each path."""
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: a scenario must be a YAML mapping at the top level")
    try:
        return Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source)) from None


def parse_scenario_text(text: str, source: str = "<scenario>") -> Scenario:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    return parse_scenario(document, source)


def load_scenario(name_or_path: str | None = None) -> Scenario:
    """A shipped scenario by name (``default`` when None) or a scenario file by path."""
    name = name_or_path or "default"
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(f"{name}: cannot read scenario file: {exc.strerror}") from None
        return parse_scenario_text(text, str(path))
    shipped = shipped_scenarios()
    if name not in shipped:
        raise ScenarioError(
            f"{name!r} is neither a scenario file nor a shipped scenario; "
            f"shipped: {', '.join(shipped)}"
        )
    text = resources.files(SCENARIO_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return parse_scenario_text(text, f"{name} (shipped scenario)")
