"""``python -m testbed.agents``: the kubevirt agent, the scheduler and any replicasets
as one process, against API servers given by kubeconfig (for e2e tests).

It prints ``agents ready`` on stdout once every cache has synced, then runs until SIGINT or
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any

from autoscaler.api.quantity import QuantityError, parse_quantity
from testbed.agents.base import Agent, AgentError
from testbed.agents.failures import FailureInjection, NamePredicate
from testbed.agents.kubevirt import KubevirtAgent
from testbed.agents.kubevirt_config import KubevirtAgentConfig, KubevirtTiming
from testbed.agents.replicaset import ReplicaSetAgent
from testbed.agents.scheduler import SchedulerAgent, SchedulerConfig

_REPLICASET = re.compile(r"^(?P<namespace>[a-z0-9-]+)/(?P<name>[a-z0-9-]+)=(?P<replicas>\d+)$")
_TIMINGS = ("data_volume", "schedule", "boot", "register", "ready", "delete")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction between 0 and 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {error}") from None


def _replicaset(text: str) -> tuple[str, str, int]:
    match = _REPLICASET.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAMESPACE/NAME=REPLICAS")
    return match["namespace"], match["name"], int(match["replicas"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testbed.agents",
        description="Play KubeVirt, the tenant's kubelets and kube-scheduler against API servers.",
    )
    parser.add_argument("--management", required=True, help="kubeconfig of the management cluster")
    parser.add_argument("--tenant", required=True, help="kubeconfig of the tenant cluster")
    parser.add_argument("--vm-namespace", help="only VMs of this namespace (default: all)")
    parser.add_argument("--vm-selector", default="", help="only VMs with these labels")
    defaults = KubevirtTiming()
    for name in _TIMINGS:
        flag = name.replace("_", "-")
        parser.add_argument(
            f"--{flag}-seconds",
            type=_seconds,
            default=getattr(defaults, name),
            metavar="N",
            help=f"delay of the {flag} step (default {getattr(defaults, name):g})",
        )
    parser.add_argument("--jitter", type=_fraction, default=0.0, help="spread of every delay")
    parser.add_argument("--fail-running", type=_fraction, default=0.0, metavar="FRACTION")
    parser.add_argument("--fail-register", type=_fraction, default=0.0, metavar="FRACTION")
    parser.add_argument("--fail-running-names", type=_pattern, metavar="REGEX")
    parser.add_argument("--fail-register-names", type=_pattern, metavar="REGEX")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-scheduler", action="store_true", help="the tenant has a scheduler")
    parser.add_argument("--scheduler-retry-seconds", type=_seconds, default=1.0, metavar="N")
    parser.add_argument("--pod-start-seconds", type=_seconds, default=0.0, metavar="N")
    parser.add_argument(
        "--replicaset",
        action="append",
        default=[],
        type=_replicaset,
        metavar="NAMESPACE/NAME=REPLICAS",
        help="keep REPLICAS pods labelled app=NAME in the tenant (repeatable)",
    )
    parser.add_argument("--replicaset-cpu", default="100m")
    parser.add_argument("--replicaset-memory", default="128Mi")
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    return parser


def _matcher(pattern: re.Pattern[str] | None) -> NamePredicate | None:
    if pattern is None:
        return None
    return lambda name: pattern.search(name) is not None


def build_agents(args: argparse.Namespace) -> list[Agent]:
    """The agents the arguments ask for; ValueError names an argument that is not usable."""
    for flag, text in (
        ("--replicaset-cpu", args.replicaset_cpu),
        ("--replicaset-memory", args.replicaset_memory),
    ):
        try:
            parse_quantity(text)
        except QuantityError as error:
            raise ValueError(f"{flag}: {error}") from None
    timing = KubevirtTiming(
        **{name: getattr(args, f"{name}_seconds") for name in _TIMINGS}, jitter=args.jitter
    )
    failures = FailureInjection(
        never_running=args.fail_running,
        never_registers=args.fail_register,
        never_running_if=_matcher(args.fail_running_names),
        never_registers_if=_matcher(args.fail_register_names),
        seed=args.seed,
    )
    config = KubevirtAgentConfig(
        namespace=args.vm_namespace,
        label_selector=args.vm_selector,
        timing=timing,
        failures=failures,
        seed=args.seed,
    )
    agents: list[Agent] = [KubevirtAgent(args.management, args.tenant, config)]
    if not args.no_scheduler:
        scheduler = SchedulerConfig(
            retry_seconds=args.scheduler_retry_seconds,
            start_seconds=args.pod_start_seconds,
        )
        agents.append(SchedulerAgent(args.tenant, scheduler))
    for namespace, name, replicas in args.replicaset:
        template: dict[str, Any] = {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {
                            "requests": {
                                "cpu": args.replicaset_cpu,
                                "memory": args.replicaset_memory,
                            }
                        },
                    }
                ]
            },
        }
        agents.append(
            ReplicaSetAgent(args.tenant, namespace, name, replicas, template, seed=args.seed)
        )
    return agents


async def serve(agents: Sequence[Agent]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for agent in agents:
            await stack.enter_async_context(agent)
        print("agents ready", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        agents = build_agents(args)
        asyncio.run(serve(agents))
    except (AgentError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
