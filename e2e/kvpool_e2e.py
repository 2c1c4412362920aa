"""Where the e2e suite finds real clusters: two kubeconfigs named by environment variables.

Without them the suite runs against the fake API servers; with both set it runs against the
clusters that ``e2e/scripts/up.sh`` (or any other set-up) created. Half a configuration is an
error, never a silent fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MANAGEMENT_VARIABLE = "KVPOOL_E2E_MANAGEMENT_KUBECONFIG"
TENANT_VARIABLE = "KVPOOL_E2E_TENANT_KUBECONFIG"


class E2EConfigError(Exception):
    """The e2e environment names clusters that cannot be used; the message says why."""


@dataclass(frozen=True)
class RealClusters:
    management_kubeconfig: Path
    tenant_kubeconfig: Path


def unset_variables(environ: Mapping[str, str]) -> list[str]:
    return [name for name in (MANAGEMENT_VARIABLE, TENANT_VARIABLE) if not environ.get(name)]


def unset_reason(environ: Mapping[str, str]) -> str:
    missing = unset_variables(environ)
    return (
        f"no real clusters: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
        "not set (e2e/scripts/up.sh prints the exports)"
    )


def real_clusters_from_env(environ: Mapping[str, str]) -> RealClusters | None:
    """The clusters the environment names, or None when it names none.

    Raises E2EConfigError when only one variable is set or a file is not a usable kubeconfig.
    """
    missing = unset_variables(environ)
    if len(missing) == 2:
        return None
    if missing:
        raise E2EConfigError(f"{unset_reason(environ)}; set both variables or neither")
    return RealClusters(
        management_kubeconfig=check_kubeconfig(environ[MANAGEMENT_VARIABLE], MANAGEMENT_VARIABLE),
        tenant_kubeconfig=check_kubeconfig(environ[TENANT_VARIABLE], TENANT_VARIABLE),
    )


def check_kubeconfig(value: str, variable: str) -> Path:
    """The kubeconfig at ``value``, checked enough to fail early with a clear message."""
    path = Path(value).expanduser()
    if not path.is_file():
        raise E2EConfigError(f"{variable}={value}: no such file")
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise E2EConfigError(f"{variable}={value}: not a readable YAML file: {error}") from error
    if not isinstance(config, dict) or config.get("kind") != "Config":
        raise E2EConfigError(f"{variable}={value}: not a kubeconfig (kind: Config)")
    _check_current_context(config, f"{variable}={value}")
    return path


def _check_current_context(config: dict[str, Any], where: str) -> None:
    current = config.get("current-context")
    if not current:
        raise E2EConfigError(f"{where}: no current-context")
    contexts = {
        entry.get("name"): entry.get("context") or {}
        for entry in config.get("contexts") or []
        if isinstance(entry, dict)
    }
    if current not in contexts:
        raise E2EConfigError(f"{where}: current-context {current!r} is not among its contexts")
    clusters = {
        entry.get("name"): entry.get("cluster") or {}
        for entry in config.get("clusters") or []
        if isinstance(entry, dict)
    }
    cluster = clusters.get(contexts[current].get("cluster"))
    if not cluster or not str(cluster.get("server", "")).startswith("https://"):
        raise E2EConfigError(f"{where}: the current context's cluster has no https:// server")
