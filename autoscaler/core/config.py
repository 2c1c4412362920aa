"""Knobs of the decision core that are not per-pool policy: deadlines, backoff, disruption pacing.

Every duration is in seconds on the injected clock. The defaults follow cluster-autoscaler and
Karpenter where they have an equivalent, adjusted for VMs that clone an image and boot.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.core.model import DEFAULT_SCHEDULER, Node, Taint, TaintEffect

# The mark the actuator puts on a node it cordons for us (with ``Node.unschedulable``), so that
# a restarted core recognises its own drains. The taint's value is the disruption Reason.
DISRUPTING_TAINT_KEY = "kvpool.io/disrupting"
DISRUPTING_TAINT_EFFECT = TaintEffect.NO_SCHEDULE


def disrupting_taint(reason: str = "") -> Taint:
    """The taint that marks a node as being disrupted by the autoscaler."""
    return Taint(key=DISRUPTING_TAINT_KEY, effect=DISRUPTING_TAINT_EFFECT, value=reason)


def disrupting_taint_of(node: Node) -> Taint | None:
    """The autoscaler's disrupting taint on ``node``, if it carries one."""
    for taint in node.taints:
        if taint.key == DISRUPTING_TAINT_KEY:
            return taint
    return None


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Tenant-independent settings of :class:`~autoscaler.core.autoscaler.Autoscaler`."""

    # Launch deadlines, one per phase of a VM on its way to a Ready node. A VM past the deadline
    # of the phase it is in is deleted (LaunchTimeout) and its pool backs off.
    provisioning_deadline: float = 15 * 60  # DataVolume clone of the image
    pending_deadline: float = 5 * 60  # waiting for a bare-metal host with room
    scheduled_deadline: float = 5 * 60  # on a host, booting until the VMI runs
    registration_deadline: float = 5 * 60  # VMI running until its Node registers
    node_ready_deadline: float = 3 * 60  # Node registered until it reports Ready

    # A node that was Ready once and has been NotReady for longer than this has its VM deleted
    # (Unhealthy), without a drain: it cannot run its pods, which the tenant evicts by taint.
    # Held in a pool where more than 20 % of the nodes are NotReady at once. 0 disables repair.
    unhealthy_node_repair_after: float = 30 * 60

    # Per-pool backoff after a failed launch: base, doubling per consecutive failure, capped.
    # It resets when a VM of the pool becomes a Ready node.
    backoff_base: float = 30.0
    backoff_max: float = 10 * 60

    # A scale-down decision is re-checked against fresh state this long after it was first
    # made, and carried out only if it still holds (Karpenter's disruption validation).
    scale_down_validation_delay: float = 15.0
    # A drain that has not emptied the node after this long is abandoned: the node is uncordoned.
    drain_timeout: float = 10 * 60
    # While a drain is in progress, DrainNode is issued again this often so that evictions a
    # PodDisruptionBudget refused are retried.
    drain_retry_interval: float = 30.0
    # Delay between a node found drained and its VM deleted, so that the last evicted pods
    # have left the node's network and storage.
    delete_delay_after_drain: float = 5.0
    # At most this many nodes start being disrupted in one pass, across all pools of a tenant;
    # also, separately, at most this many unhealthy nodes are repaired in one pass.
    max_disrupted_per_pass: int = 10
    # At most this many nodes with pods are checked per pass for whether their pods fit
    # elsewhere (cluster-autoscaler's --scale-down-non-empty-candidates-count): each check
    # places pods on every other node, so an unbounded pass grows with the square of the
    # cluster. Nodes found unneeded before are checked first, so that their timers run on.
    max_non_empty_candidates_per_pass: int = 30
    # No scale-down of a pool within this long after the core last launched a VM for it. Off
    # by default: every removal is checked against the next scale-up (pending pods and
    # launching capacity included), which a blanket pause would only delay.
    scale_down_cooldown_after_scale_up: float = 0.0

    # Replace under-used nodes with one cheaper VM sized for their pods (launched first, the
    # old nodes drained once it is up), as Karpenter's consolidation does.
    consolidation: bool = True
    # New VMs of a pool are sized to hold at least what the pool launched for in this long
    # (about a VM's boot time): a pool that keeps growing gets fewer, larger VMs, whose room
    # the next pending pods take while they boot. 0 sizes every VM tightly for its batch.
    growth_window: float = 10 * 60

    # Pending pods are ours to serve only when one of these schedulers marked them unschedulable.
    scheduler_names: tuple[str, ...] = (DEFAULT_SCHEDULER,)

    def __post_init__(self) -> None:
        durations = {
            "provisioning_deadline": self.provisioning_deadline,
            "pending_deadline": self.pending_deadline,
            "scheduled_deadline": self.scheduled_deadline,
            "registration_deadline": self.registration_deadline,
            "node_ready_deadline": self.node_ready_deadline,
            "unhealthy_node_repair_after": self.unhealthy_node_repair_after,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
            "scale_down_validation_delay": self.scale_down_validation_delay,
            "drain_timeout": self.drain_timeout,
            "drain_retry_interval": self.drain_retry_interval,
            "delete_delay_after_drain": self.delete_delay_after_drain,
            "scale_down_cooldown_after_scale_up": self.scale_down_cooldown_after_scale_up,
            "growth_window": self.growth_window,
        }
        for name, value in durations.items():
            if not value >= 0:  # also rejects NaN
                raise ValueError(f"CoreConfig.{name} must be a non-negative duration, got {value}")
        if self.backoff_max < self.backoff_base:
            raise ValueError(
                f"CoreConfig.backoff_max ({self.backoff_max}) is below backoff_base "
                f"({self.backoff_base})"
            )
        if self.max_non_empty_candidates_per_pass < 1:
            raise ValueError(
                "CoreConfig.max_non_empty_candidates_per_pass must be at least 1, "
                f"got {self.max_non_empty_candidates_per_pass}"
            )
        if self.max_disrupted_per_pass < 0:
            raise ValueError(
                "CoreConfig.max_disrupted_per_pass must not be negative, "
                f"got {self.max_disrupted_per_pass}"
            )


DEFAULT_CONFIG = CoreConfig()
