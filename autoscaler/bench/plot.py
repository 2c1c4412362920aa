"""A PNG of the planner benchmark: plan time per scenario, and VMs and vCPUs planned against
the proven lower bound and a fixed-shape node group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def write_planner_plot(path: str | Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Write the figure; raise OSError when the file cannot be written."""
    names = [str(row["name"]) for row in rows]
    positions = range(len(rows))
    figure, (speed, vms, vcpus) = plt.subplots(1, 3, figsize=(15, 4.5))
    try:
        speed.bar(names, [_number(row, "plan_seconds_median") for row in rows], color="tab:blue")
        speed.set_ylabel("plan time, median (s)")
        speed.set_title("planning time")
        _grouped(
            vms,
            positions,
            rows,
            (
                ("lower_bound_vms", "proven lower bound", "tab:gray"),
                ("vms_planned", "planned", "tab:blue"),
                ("fixed_shape_vms", "fixed shape", "tab:olive"),
            ),
        )
        vms.set_ylabel("VMs")
        vms.set_title("VMs for the pods left over")
        _grouped(
            vcpus,
            positions,
            rows,
            (
                ("vm_vcpus_provisioned", "right-sized", "tab:blue"),
                ("fixed_shape_vcpus", "fixed shape", "tab:olive"),
            ),
        )
        vcpus.set_ylabel("vCPUs provisioned")
        vcpus.set_title("vCPUs in the new VMs")
        for axis in (speed, vms, vcpus):
            axis.set_xticks(list(positions), names, rotation=15)
            axis.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)


def _grouped(
    axis: Axes,
    positions: range,
    rows: Sequence[Mapping[str, object]],
    series: Sequence[tuple[str, str, str]],
) -> None:
    width = 0.8 / len(series)
    for index, (key, label, color) in enumerate(series):
        offsets = [p + (index - (len(series) - 1) / 2) * width for p in positions]
        axis.bar(offsets, [_number(row, key) for row in rows], width, label=label, color=color)
    axis.set_yscale("log")
    axis.legend(fontsize=8)


def _number(row: Mapping[str, object], key: str) -> float:
    value = row.get(key, 0)
    return float(value) if isinstance(value, int | float) else 0.0
