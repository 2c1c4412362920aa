"""Equivalence classes of pods: pods the scheduler cannot tell apart are placed in bulk.

Two pods are equivalent when they ask for the same resources under the same scheduling
constraints and priority. Their labels and namespace matter only where some pod carries
required anti-affinity (another pod's term could select one and not the other) or where the
pod's own spread constraints or affinity terms may select itself, so they join the key only
then; pods of one Deployment share them anyway.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from autoscaler.api.resources import Resources
from autoscaler.core.model import HOSTNAME_LABEL, Pod
from autoscaler.core.predicates import NODE_NAME_FIELD, pod_vector


@dataclass(slots=True)
class PodClass:
    """Equivalent pods, in input order; ``pods[0]`` stands for all of them."""

    key: Hashable
    pods: list[Pod] = field(default_factory=list)
    vector: Resources = field(default_factory=Resources)  # requests + one pod slot

    @property
    def representative(self) -> Pod:
        return self.pods[0]

    @property
    def per_pod_checks(self) -> bool:
        """Whether each pod must be checked on its own: they constrain each other."""
        pod = self.pods[0]
        return bool(
            pod.required_anti_affinity
            or pod.host_ports
            or pod.topology_spread
            or pod.required_affinity
        )

    @property
    def names_its_node(self) -> bool:
        """Whether the class selects on the hostname or node name, so that nodes with equal
        signatures may still answer differently."""
        return names_its_node(self.pods[0])


def names_its_node(pod: Pod) -> bool:
    """Whether the pod's node selector or required node affinity names the hostname or the
    node name."""
    if HOSTNAME_LABEL in pod.node_selector:
        return True
    for term in pod.required_node_affinity:
        if any(r.key == HOSTNAME_LABEL for r in term.match_expressions):
            return True
        if any(r.key == NODE_NAME_FIELD for r in term.match_fields):
            return True
    return False


def _constraints(pod: Pod, with_identity: bool) -> Hashable:
    selector = pod.node_selector
    key: tuple[Hashable, ...] = (
        pod.requests,
        pod.priority,
        tuple(sorted(selector.items())) if selector else (),
        pod.required_node_affinity,
        pod.tolerations,
        pod.required_anti_affinity,
        pod.host_ports,
        pod.required_affinity,
        pod.topology_spread,
    )
    # Whether a pod's own selectors match itself depends on its labels and namespace.
    if with_identity or pod.required_anti_affinity or pod.topology_spread or pod.required_affinity:
        key += (pod.namespace, tuple(sorted(pod.labels.items())))
    return key


def group_equivalent(pods: Iterable[Pod], with_identity: bool | None = None) -> list[PodClass]:
    """Classes in order of first appearance.

    ``with_identity`` adds namespace and labels to every key; by default it does so when any
    of the pods has required anti-affinity.
    """
    pods = pods if isinstance(pods, Sequence) else list(pods)
    if with_identity is None:
        with_identity = any(p.required_anti_affinity for p in pods)
    classes: dict[Hashable, PodClass] = {}
    for pod in pods:
        key = _constraints(pod, with_identity)
        cls = classes.get(key)
        if cls is None:
            cls = classes[key] = PodClass(key, [], pod_vector(pod))
        cls.pods.append(pod)
    return list(classes.values())
