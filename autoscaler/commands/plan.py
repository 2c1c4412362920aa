"""``kubevirt-autoscaler plan``: what the autoscaler would do now, changing nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "plan",
        help="show what the autoscaler would do now (a dry run against real clusters)",
        description=(
            "Connect to the management cluster and every tenant, read their state once, run "
            "one decision per tenant and print the actions it would take and, for each group "
            "of pending pods, which pool would serve it or why none can. Nothing is changed."
        ),
    )
    parser.add_argument("--kubeconfig", type=Path, help="management cluster kubeconfig")
    parser.add_argument("--namespace", default=None, help="namespace of the TenantClusters")
    parser.add_argument("--tenant", metavar="NAME", help="only this TenantCluster")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for each tenant's caches"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from autoscaler.controller.settings import SettingsError, load_settings
    from autoscaler.kube.clients import KubeconfigError

    try:
        settings = load_settings(None, {"kubeconfig": args.kubeconfig, "namespace": args.namespace})
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        plans = asyncio.run(_plans(settings, args.tenant, args.timeout))
    except KubeconfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from autoscaler.kube import errors

        if not errors.is_api_error(exc):
            raise
        print(f"error: management cluster: {errors.status_message(exc)}", file=sys.stderr)
        return 1
    if args.json:
        json.dump({"tenants": [p.as_json() for p in plans]}, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print(plans)
    return 1 if any(p.error for p in plans) else 0


async def _plans(settings: Any, tenant: str | None, sync_seconds: float) -> list[Any]:
    from autoscaler.controller.planning import plan_tenants
    from autoscaler.kube.clients import management_client

    kubeconfig = str(settings.kubeconfig) if settings.kubeconfig is not None else None
    management = await management_client(kubeconfig)
    try:
        return await plan_tenants(
            management,
            settings.namespace,
            tenant=tenant,
            core=settings.core_config(),
            sync_timeout=sync_seconds,
        )
    finally:
        await management.close()


def _print(plans: Sequence[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not plans:
        console.print("no TenantClusters found")
    for plan in plans:
        if plan.error:
            console.print(f"[bold]{plan.tenant}[/bold]: [red]{plan.error}[/red]", highlight=False)
            continue
        actions = Table(title=f"{plan.tenant}: actions", title_justify="left")
        actions.add_column("would")
        for text in plan.actions or ("nothing",):
            actions.add_row(text)
        console.print(actions)
        pending = Table(title=f"{plan.tenant}: pending pods ({plan.pending})", title_justify="left")
        for column in ("pods", "verdict", "pool", "sample", "why"):
            pending.add_column(column, justify="right" if column == "pods" else "left")
        for e in plan.plan.explanations:
            pending.add_row(
                str(e.pods), str(e.verdict), e.pool or "-", ", ".join(e.sample), e.message
            )
        if plan.plan.explanations:
            console.print(pending)
        for pool, message in plan.plan.pool_messages:
            console.print(f"pool {pool}: {message}", highlight=False)
