"""``kubevirt-autoscaler validate``: check NodePool files against a TenantCluster file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from autoscaler.api.annotations import describe
from autoscaler.api.models import InvalidObject, TenantCluster, load_nodepool, load_tenant_cluster
from autoscaler.core.pools import check_nodepool

_MAX_FILE_BYTES = 4 * 1024 * 1024


class _Unreadable(Exception):
    """A file that cannot be read or is not YAML; the message says why."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "validate",
        help="check NodePool manifests against their TenantCluster",
        description=(
            "Check each NodePool's spec and kvpool.io/ annotations against the bounds of a "
            "TenantCluster; print every error and warning; exit 1 if there is any error."
        ),
    )
    parser.add_argument("nodepools", nargs="+", type=Path, metavar="NODEPOOL.yaml")
    parser.add_argument(
        "--tenant", required=True, type=Path, metavar="TENANTCLUSTER.yaml", help="its tenant"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print only errors and warnings")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    tenant = _load_tenant(args.tenant)
    if tenant is None:
        return 1
    failed = False
    for path in args.nodepools:
        failed |= not _validate_file(path, tenant, quiet=args.quiet)
    return 1 if failed else 0


def _load_tenant(path: Path) -> TenantCluster | None:
    try:
        documents = [doc for doc in _documents(path) if doc is not None]
    except _Unreadable as exc:
        print(f"{path}: error: {exc}")
        return None
    tenants = [doc for doc in documents if _kind(doc) == "TenantCluster"]
    if len(tenants) != 1:
        print(f"{path}: error: expected exactly one TenantCluster, found {len(tenants)}")
        return None
    try:
        return load_tenant_cluster(tenants[0])
    except InvalidObject as exc:
        print(f"{path}: {exc.what}: invalid")
        for line in exc.errors:
            print(f"  error: {line}")
        return None


def _validate_file(path: Path, tenant: TenantCluster, *, quiet: bool) -> bool:
    try:
        documents = [doc for doc in _documents(path) if doc is not None]
    except _Unreadable as exc:
        print(f"{path}: error: {exc}")
        return False
    if not documents:
        print(f"{path}: error: no NodePool in this file")
        return False
    ok = True
    for index, document in enumerate(documents):
        ok &= _validate_document(path, index, document, tenant, quiet=quiet)
    return ok


def _validate_document(
    path: Path, index: int, document: Any, tenant: TenantCluster, *, quiet: bool
) -> bool:
    where = f"{path}" if index == 0 else f"{path} (document {index + 1})"
    if _kind(document) != "NodePool":
        print(f"{where}: error: kind {_kind(document)!r} is not NodePool")
        return False
    try:
        nodepool = load_nodepool(document)
    except InvalidObject as exc:
        print(f"{where}: {exc.what}: invalid")
        for line in exc.errors:
            print(f"  error: {line}")
        return False
    check = check_nodepool(nodepool, tenant)
    status = "invalid" if check.errors else "ok"
    if check.errors or check.warnings or not quiet:
        print(f"{where}: NodePool {nodepool.metadata.name}: {status}")
    for line in check.errors:
        print(f"  error: {line}")
    for line in check.warnings:
        print(f"  warning: {line}")
    settings = check.pool.settings
    if settings is not None and not quiet:
        for line in describe(settings):
            print(f"  {line}")
    return not check.errors


def _documents(path: Path) -> list[Any]:
    try:
        with path.open("rb") as stream:
            data = stream.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise _Unreadable(f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise _Unreadable(f"the file is larger than {_MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        return list(yaml.safe_load_all(data))
    except yaml.YAMLError as exc:
        raise _Unreadable(f"not valid YAML: {exc}") from None


def _kind(document: Any) -> str | None:
    kind = document.get("kind") if isinstance(document, dict) else None
    return kind if isinstance(kind, str) else None
