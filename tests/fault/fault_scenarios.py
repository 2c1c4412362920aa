"""One fault run: a world, the controller process, a fault category applied while the demand
changes, and the figures the invariants give.

Every run starts with both tenants converged (team-a's ``web`` and team-b's ``api``, each with a
PodDisruptionBudget of maxUnavailable 1), then goes through phases: each phase changes the
faults and the demand at once and measures how long the world takes to converge again (from
the API servers' state; see :mod:`fault_invariants`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from fault_invariants import Deletion, Monitor, leftovers, problems
from fault_world import FaultWorld, fault_world

from testbed.apiserver import Fault

CONVERGE_WITHIN = 30.0  # the target after each fault change; longer counts as not converged
TARGET_RATE = 0.2  # the highest error rate under which the target holds
FIRST_CONVERGENCE = 90.0  # the world before any fault (cold start of the controller)
RUN_TIMEOUT = 240.0
SETTLE = 5.0  # longer than a NodePool's scale-down-unneeded-time plus a pass
POLL = 0.1
WEB, API = "web", "api"
TEAM_A, TEAM_B = "team-a", "team-b"
WORKLOADS = {TEAM_A: {WEB: 6}, TEAM_B: {API: 2}}  # replicas at the start of a run


@dataclass
class Phase:
    name: str
    converged_after: float | None  # seconds after the change; None: not within the limit
    left: list[str] = field(default_factory=list)  # what was still wrong at the limit
    limit: float = CONVERGE_WITHIN
    # False for a phase whose fault rules convergence out (cordons that all fail) or that is
    # beyond the convergence target (50 % errors): its figure is reported, not judged.
    judged: bool = True


@dataclass
class RunResult:
    category: str
    seed: int
    detail: str = ""
    phases: list[Phase] = field(default_factory=list)
    guarded: list[Deletion] = field(default_factory=list)
    pdb_violations: int = 0
    leaked: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # broken expectations beyond the invariants
    info: list[str] = field(default_factory=list)  # context, not a failure
    error: str = ""

    @property
    def convergence(self) -> list[float | None]:
        return [phase.converged_after for phase in self.phases]

    @property
    def failures(self) -> list[str]:
        found = [f"guarded deletion: {d.what} with {', '.join(d.pods)}" for d in self.guarded]
        found += [f"PDB violated: {b}" for d in self.guarded for b in d.budgets]
        found += [f"leaked: {item}" for item in self.leaked]
        found += [f"duplicated: VM {name} never ran a workload pod" for name in self.duplicated]
        found += [
            f"{p.name}: not converged within {p.limit:g}s ({'; '.join(p.left[:4])})"
            for p in self.phases
            if p.converged_after is None and p.judged
        ]
        found += self.notes
        if self.error:
            found.append(f"run failed: {self.error}")
        return found


async def wait_converged(
    world: FaultWorld, tenants: list[str], within: float
) -> tuple[float | None, list[str]]:
    started = time.monotonic()
    left: list[str] = []
    while True:
        left = [
            f"{name}: {problem}"
            for name in tenants
            for problem in problems(world, world.tenants[name])
        ]
        elapsed = time.monotonic() - started
        if not left:
            return elapsed, []
        if elapsed >= within:
            return None, left
        await asyncio.sleep(POLL)


async def wait_for(check: Callable[[], bool], within: float) -> float | None:
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if check():
            return elapsed
        if elapsed >= within:
            return None
        await asyncio.sleep(POLL)


class Run:
    """The state of one run, and the phase steps the categories are made of."""

    def __init__(self, world: FaultWorld, monitor: Monitor, result: RunResult) -> None:
        self.world = world
        self.monitor = monitor
        self.result = result
        self.faults: list[tuple[object, Fault]] = []

    def scale(self, tenant: str, workload: str, replicas: int) -> None:
        self.world.tenants[tenant].scale(workload, replicas)

    def clear_faults(self) -> None:
        for server, _ in self.world.servers():
            server.faults.clear()

    async def phase(
        self,
        name: str,
        tenants: list[str] | None = None,
        within: float = CONVERGE_WITHIN,
        hold: float = 0.0,
        judged: bool = True,
    ) -> Phase:
        """How long until converged (at most ``within``); the phase lasts ``hold`` at least,
        so that a fault stays in place while the controller could act on a stale view."""
        started = time.monotonic()
        took, left = await wait_converged(self.world, tenants or list(self.world.tenants), within)
        phase = Phase(name, took, left, within, judged)
        self.result.phases.append(phase)
        await asyncio.sleep(max(0.0, hold - (time.monotonic() - started)))
        return phase


# Categories -----------------------------------------------------------------------------


async def error_rates(run: Run, rate: float, rounds: int = 2) -> None:
    """Errors (500, 429 with Retry-After, connection resets) on every request the controller
    sends to either cluster while web shrinks (and, in the second round, grows again); each
    round clears the errors afterwards."""
    for replicas in (2, 6)[:rounds]:
        for server, port in run.world.servers():
            server.faults.error_rate(rate, port=port)
        before = run.world.tenants[TEAM_A].desired()[WEB]
        run.scale(TEAM_A, WEB, replicas)
        await run.phase(f"{rate:.0%} errors, web {before}->{replicas}", judged=rate <= TARGET_RATE)
        run.clear_faults()
        await run.phase("errors cleared")


async def failed_cordons(run: Run, status: int) -> None:
    """Every cordon (Node patch) of team-a fails while web shrinks; once they succeed again
    the empty nodes must go."""
    a = run.world.tenants[TEAM_A]
    a.server.faults.fail(
        status=status, times=None, verb="patch", resource="nodes", port=a.controller_port
    )
    run.scale(TEAM_A, WEB, 2)
    hold = max(2 * run.world.window, 8.0)
    await run.phase(f"cordons fail with {status}, web 6->2", within=hold, hold=hold, judged=False)
    run.clear_faults()
    await run.phase("cordons work again")


WATCH_FAULTS = ("never-starts", "silent", "dropped")


def _watch_fault(run: Run, kind: str, server_name: str, resource: str) -> None:
    world = run.world
    if server_name == "management":
        server, port = world.management, world.management_port
    else:
        tenant = world.tenants[server_name]
        server, port = tenant.server, tenant.controller_port
    if kind == "never-starts":
        server.faults.hang(verb="watch", resource=resource, port=port)
        server.end_watches(resource=resource, port=port)
    elif kind == "silent":
        server.faults.silence_watches(resource=resource, port=port)
    else:
        server.faults.drop_watches(after_events=1, resource=resource, port=port)
        server.end_watches(resource=resource, port=port)


async def tenant_pod_watch(run: Run, kind: str) -> None:
    """team-a's pod watch fails just after web shrank, and web grows back at once: the pods
    bound to the nodes the controller saw empty must keep their nodes (the nodes are full
    again, so an evicted pod has nowhere to go and its budget refuses the next eviction)."""
    hold = max(2 * run.world.window, 8.0)
    run.scale(TEAM_A, WEB, 2)
    await asyncio.sleep(1.0)  # the controller sees the shrink; its unneeded timer runs
    _watch_fault(run, kind, TEAM_A, "pods")
    run.scale(TEAM_A, WEB, 6)
    await run.phase(f"pod watch {kind}, web 6->2->6", within=hold, hold=hold)
    run.clear_faults()
    await run.phase("pod watch back")


async def management_vm_watch(run: Run, kind: str) -> None:
    """The VM watch on the management cluster fails while web grows: no launch twice."""
    hold = max(2 * run.world.window, 8.0)
    run.scale(TEAM_A, WEB, 2)
    await run.phase("web 6->2")
    _watch_fault(run, kind, "management", "virtualmachines")
    run.scale(TEAM_A, WEB, 6)
    await run.phase(f"VM watch {kind}, web 2->6", within=hold, hold=hold)
    run.clear_faults()
    await run.phase("VM watch back")


async def blackhole(run: Run, _: object = None) -> None:
    """Every request of the controller to team-b hangs and its open watches go quiet; team-a
    shrinks meanwhile. team-b must turn Connected=False within the watch inactivity window and
    back within two windows of the network's return; team-a carries on."""
    world = run.world
    window = world.window
    b = world.tenants[TEAM_B]
    a_disconnected: list[float] = []
    sampling = True

    async def watch_team_a() -> None:
        while sampling:
            if world.tenant_connected(TEAM_A) is not True:
                a_disconnected.append(time.monotonic())
            await asyncio.sleep(POLL)

    sampler = asyncio.create_task(watch_team_a())
    faults = b.server.faults.blackhole(port=b.controller_port)
    run.scale(TEAM_A, WEB, 3)
    run.scale(TEAM_B, API, 1)
    lost = await wait_for(lambda: world.tenant_connected(TEAM_B) is False, 3 * window)
    hold = max(2 * window, 8.0)
    await run.phase("team-b blackholed, team-a web 6->3", tenants=[TEAM_A], hold=hold)
    b.server.faults.remove_all(faults)
    back = await wait_for(lambda: world.tenant_connected(TEAM_B) is True, 4 * window)
    await run.phase("team-b back")
    sampling = False
    await sampler
    result = run.result
    if a_disconnected:
        result.notes.append(f"team-a was not Connected for {len(a_disconnected)} samples")
    result.detail = (
        f"Connected=False after {_seconds(lost)} (window {window:g}s), back after {_seconds(back)}"
    )
    if lost is None or lost > window:
        result.notes.append(f"team-b not Connected=False within {window:g}s: {_seconds(lost)}")
    if back is None or back > 2 * window:
        result.notes.append(f"team-b not Connected within {2 * window:g}s: {_seconds(back)}")


async def kill_at_write(
    run: Run, point: tuple[int, str] | tuple[int, str, str], steps: tuple[int, ...] = (2, 6, 3)
) -> None:
    """SIGKILL the controller at its n-th write (leases and events aside; with a third element
    such as ``"delete virtualmachines"``, its n-th write of that kind), before that write is
    served or once it is answered, then start it again; web goes through ``steps``."""
    number, when = point[0], point[1]
    kind = point[2] if len(point) > 2 else ""
    world, monitor = run.world, run.monitor
    restarted: list[asyncio.Task[None]] = []
    killed: list[str] = []
    seen = [0]

    async def restart() -> None:
        await world.controller.wait_dead()
        await asyncio.sleep(0.3)
        await world.controller.start()

    def kill(what: str) -> None:
        if not killed and world.controller.kill():
            killed.append(what)
            restarted.append(asyncio.get_running_loop().create_task(restart()))

    target: list[str] = []
    base = monitor.controller_writes  # writes of the first convergence do not count

    def before(_: int, what: str) -> None:
        if kind and what != kind:
            return
        seen[0] += 1
        if seen[0] == number:
            if when == "before":
                kill(what)
            else:
                target.append(what)

    def after(_: int, what: str) -> None:
        if target and what == target[0]:
            kill(what)

    monitor.before_write.append(before)
    monitor.after_write.append(after)
    for replicas in steps:
        before_scale = world.tenants[TEAM_A].desired()[WEB]
        run.scale(TEAM_A, WEB, replicas)
        await run.phase(f"web {before_scale}->{replicas}")
    for task in restarted:
        await task
    writes = monitor.controller_writes - base
    run.result.detail = (
        f"killed {when} {kind or 'write'} {number}: {killed[0] if killed else 'never'}, "
        f"{writes} writes"
    )


Category = Callable[[Run, object], Awaitable[None]]


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}s"


async def run_case(
    category: str, body: Category, param: object, seed: int, workdir: Path
) -> RunResult:
    result = RunResult(category, seed)
    monitor: Monitor | None = None
    try:
        async with asyncio.timeout(RUN_TIMEOUT), fault_world(workdir, seed, WORKLOADS) as world:
            monitor = Monitor(world)
            monitor.attach()
            if world.missing_settings:
                result.info.append(
                    "settings this controller does not take: " + ", ".join(world.missing_settings)
                )
            await world.controller.start()
            took, left = await wait_converged(world, list(world.tenants), FIRST_CONVERGENCE)
            if took is None:
                result.error = "no first convergence: " + "; ".join(left[:5])
                return result
            run = Run(world, monitor, result)
            await body(run, param)
            # Still converged once the scale-down timers of anything seen stale have run out.
            await asyncio.sleep(SETTLE)
            await run.phase("settled")
            for tenant in world.tenants.values():
                result.leaked += [f"{tenant.name}: {item}" for item in leftovers(world, tenant)]
    except TimeoutError:
        result.error = f"run did not finish within {RUN_TIMEOUT:g}s"
    except Exception as error:  # a broken run is a figure too, never a crash of the suite
        result.error = f"{type(error).__name__}: {error}"
    finally:
        if monitor is not None:  # what the servers saw counts even when the run broke off
            result.guarded = list(monitor.guarded)
            result.pdb_violations = monitor.pdb_violations
            result.duplicated = monitor.idle_launches()
    return result
