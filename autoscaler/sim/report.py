"""The human-readable summary of one or two runs, as a rich table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from autoscaler.sim.stats import VCPU_BREAKDOWN

ROWS: tuple[tuple[str, str], ...] = (
    ("simulated_seconds", "simulated time (s)"),
    ("wall_seconds", "wall time (s)"),
    ("boot_time_seconds", "VM boot time bound (s)"),
    ("pods_total", "pods created"),
    ("pods_never_scheduled", "pods never scheduled"),
    ("pods_pending_at_end", "pods pending at the end"),
    ("pending_seconds_p50", "pending time p50 (s)"),
    ("pending_seconds_p99", "pending time p99 (s)"),
    ("pending_seconds_max", "pending time max (s)"),
    ("vms_launched", "VMs launched"),
    ("vms_deleted", "VMs deleted"),
    ("vms_failed", "VMs failed"),
    ("peak_vms", "peak VMs"),
    ("vcpu_hours_provisioned", "vCPU-hours provisioned"),
    ("vcpu_hours_requested", "vCPU-hours requested"),
    ("vcpu_provisioned_per_requested", "provisioned / requested vCPU"),
    ("memory_gib_hours_provisioned", "memory GiB-hours provisioned"),
    ("memory_gib_hours_requested", "memory GiB-hours requested"),
    ("pdb_violations", "PDB violations"),
    ("evictions", "evictions"),
    ("evictions_refused", "evictions refused by a PDB"),
    ("leaked_vms", "leaked VMs"),
    ("decisions", "decisions"),
    ("decisions_skipped", "scans skipped (nothing changed)"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_table(summary: Mapping[str, Any], baseline: Mapping[str, Any] | None = None) -> Table:
    title = f"scenario {summary['scenario']} (seed {summary['seed']})"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("kvpool autoscaler", justify="right")
    if baseline is not None:
        table.add_column("fixed shape", justify="right")
    for key, label in ROWS:
        cells = [_cell(summary.get(key))]
        if baseline is not None:
            cells.append(_cell(baseline.get(key)))
        table.add_row(label, *cells)
    return table


def breakdown_table(
    summary: Mapping[str, Any], baseline: Mapping[str, Any] | None = None
) -> Table | None:
    """Where the provisioned vCPU-hours went, in hours and per requested vCPU-hour."""
    runs = [("kvpool", summary)]
    if baseline is not None:
        runs.append(("fixed", baseline))
    if any(not run.get("vcpu_hours_breakdown") for _, run in runs):
        return None
    table = Table(title="where the provisioned vCPU-hours went", title_justify="left")
    table.add_column("")
    for label, _ in runs:
        table.add_column(f"{label} vCPU-h", justify="right")
        table.add_column("÷ req", justify="right")
    for key, label in VCPU_BREAKDOWN.items():
        cells = []
        for _, run in runs:
            hours = run["vcpu_hours_breakdown"].get(key, 0.0)
            requested = run["vcpu_hours_breakdown"].get("requested") or 0.0
            cells += [f"{hours:,.1f}", f"{hours / requested:.3f}" if requested else "-"]
        table.add_row(label, *cells)
    return table


def unserved_table(summary: Mapping[str, Any]) -> Table | None:
    rows = summary.get("unserved") or []
    if not rows:
        return None
    table = Table(title="pods the autoscaler cannot serve", title_justify="left")
    for column in ("verdict", "pool", "pods", "why", "e.g."):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["verdict"],
            row["pool"] or "-",
            str(row["pods"]),
            row["message"],
            ", ".join(row["sample"]),
        )
    return table
