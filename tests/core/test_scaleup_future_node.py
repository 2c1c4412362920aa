"""The node a VM will become: labels, taints and the room DaemonSets leave."""

from __future__ import annotations

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.core.future_node import future_node, future_node_labels
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    IMAGE_HASH_LABEL,
    POOL_LABEL,
    DaemonSet,
    Pod,
    Pool,
    Taint,
    TaintEffect,
)
from autoscaler.core.overhead import GI, MI, node_allocatable

POOL = Pool(
    "gpu",
    {"pool": "gpu", "kubernetes.io/arch": "arm64"},
    (Taint("gpu", TaintEffect.NO_SCHEDULE),),
    image_hash="h9",
)
AGENT = DaemonSet(
    "kube-system",
    "agent",
    Pod(
        "kube-system",
        "agent",
        requests=Resources.of(200, 256 * MI),
        owner_kind="DaemonSet",
        node_selector={"kubernetes.io/os": "linux"},
    ),
)


def test_labels_are_the_kubelets_the_templates_and_ours() -> None:
    labels = future_node_labels(POOL, "gpu-abc", "h1")
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] == "arm64"  # the template wins over the default
    assert labels[POOL_LABEL] == "gpu" and labels[HOSTNAME_LABEL] == "gpu-abc"
    assert labels[IMAGE_HASH_LABEL] == "h1"


def test_daemonset_pods_count_until_they_are_bound() -> None:
    shape = Shape(4000, 8 * GI)
    tolerant = DaemonSet(
        "kube-system",
        "agent",
        Pod(
            "kube-system",
            "agent",
            requests=AGENT.template.requests,
            owner_kind="DaemonSet",
            node_selector={"kubernetes.io/os": "linux"},
            tolerations=(),
        ),
    )
    untolerated = future_node("gpu-abc", POOL, shape, [tolerant])
    assert untolerated.used == Resources()  # the DaemonSet does not tolerate the pool's taint
    plain_pool = Pool("plain", {"pool": "plain"})
    state = future_node("plain-abc", plain_pool, shape, [AGENT])
    assert state.used == Resources.of(200, 256 * MI, 1)
    assert state.allocatable == node_allocatable(shape)
    assert state.node_name is None and state.taints == ()
    bound = Pod(
        "kube-system",
        "agent-x",
        requests=AGENT.template.requests,
        owner_kind="DaemonSet",
        node_name="plain-abc",
    )
    registered = future_node("plain-abc", plain_pool, shape, [AGENT], [bound])
    assert registered.used == Resources.of(200, 256 * MI, 1)  # counted once
