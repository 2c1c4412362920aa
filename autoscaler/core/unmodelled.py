"""What the model could not read of a pod, and whether that keeps it from being planned.

The converters keep every object and list the fields they could not read in ``unmodelled``
(``"<field path>: <problem>"``). A bound pod counts on its node with what could be read and
keeps its node (see :func:`~autoscaler.core.eviction.pod_blocker`). A pending pod is planned
only when nothing unread bears on where it may run: its metadata (labels aside) and its
status do not; anything in its spec might.
"""

from __future__ import annotations

from autoscaler.core.model import Pod

# Fields that say nothing about where the pod may run.
_PLACEMENT_NEUTRAL = (
    "metadata.annotations",
    "metadata.ownerReferences",
    "metadata.uid",
    "metadata.creationTimestamp",
    "status.",
    "spec.priority",
    "spec.volumes",
)


def _path(entry: str) -> str:
    return entry.split(": ", 1)[0]


# ... except a volume's claim, whose volume may decide where the pod can run.
_CLAIM_FIELDS = (".persistentVolumeClaim", ".ephemeral")


def _bears_on_placement(path: str) -> bool:
    return not path.startswith(_PLACEMENT_NEUTRAL) or any(part in path for part in _CLAIM_FIELDS)


def placement_unknowns(pod: Pod) -> tuple[str, ...]:
    """The unread fields of ``pod`` that may bear on where it can run, as field paths."""
    return tuple(_path(entry) for entry in pod.unmodelled if _bears_on_placement(_path(entry)))


def not_planned_message(pod: Pod) -> str:
    fields = placement_unknowns(pod)
    shown = ", ".join(fields[:3]) + (f" and {len(fields) - 3} more" if len(fields) > 3 else "")
    return f"not planned: the autoscaler cannot read {shown}"
