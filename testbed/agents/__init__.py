"""kwok-like agents that make any Kubernetes API server behave like a populated cluster.

- :class:`KubevirtAgent` plays KubeVirt, CDI and the kubelets of the worker VMs: VMs in the
  management cluster become VMIs on bare-metal hosts and Ready Nodes in the tenant cluster.
- :class:`SchedulerAgent` plays kube-scheduler (and the kubelet's pod start) for API servers
  that have none: it binds pending pods or marks them Unschedulable.
- :class:`ReplicaSetAgent` keeps N pods of a template, so that evicted pods come back.

Each is started with ``start()``/``stop()`` or ``async with``; ``python -m
testbed.agents`` runs them as a process.
"""

from testbed.agents.base import Agent, AgentError, ClientSource
from testbed.agents.failures import FailureInjection
from testbed.agents.kubevirt import KubevirtAgent
from testbed.agents.kubevirt_config import KubevirtAgentConfig, KubevirtTiming
from testbed.agents.replicaset import ReplicaSetAgent
from testbed.agents.scheduler import SchedulerAgent, SchedulerConfig

__all__ = [
    "Agent",
    "AgentError",
    "ClientSource",
    "FailureInjection",
    "KubevirtAgent",
    "KubevirtAgentConfig",
    "KubevirtTiming",
    "ReplicaSetAgent",
    "SchedulerAgent",
    "SchedulerConfig",
]
