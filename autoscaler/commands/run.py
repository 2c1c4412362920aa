"""``kubevirt-autoscaler run``: the controller process."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the autoscaler controller",
        description=(
            "Follow the TenantCluster objects of the management cluster and keep every tenant's "
            "worker pools as large as its workload needs. Settings come from the flags, then "
            "the environment (KVPOOL_*), then --config, then the defaults; a flag not given "
            "overrides nothing. In-cluster credentials are used when no kubeconfig is given."
        ),
    )
    parser.add_argument("--kubeconfig", type=Path, help="management cluster kubeconfig")
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML file of settings")
    parser.add_argument("--namespace", help="namespace of the TenantClusters and the Lease")
    parser.add_argument("--metrics-port", type=int, help="port of /metrics, /healthz, /readyz")
    parser.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="elect a leader among replicas through a Lease (default on)",
    )
    parser.add_argument(
        "--dry-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decide and log what would be done, but change nothing",
    )
    parser.add_argument("--log-format", choices=["json", "console"])
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(handler=run)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags name; a flag not given is None (and overrides nothing)."""
    return {
        "kubeconfig": args.kubeconfig,
        "namespace": args.namespace,
        "metrics_port": args.metrics_port,
        "leader_elect": args.leader_elect,
        "dry_run": args.dry_run,
        "log_format": args.log_format,
        "log_level": args.log_level,
    }


def run(args: argparse.Namespace) -> int:
    from autoscaler.controller.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.config, overrides(args))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from autoscaler.kube.clients import KubeconfigError
    from autoscaler.observability.logging import configure_logging

    configure_logging(settings.log_level, json=settings.log_format == "json")
    try:
        asyncio.run(_serve(settings))
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(settings: Any) -> None:
    from autoscaler.controller.app import run_until

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await run_until(settings, stop)
