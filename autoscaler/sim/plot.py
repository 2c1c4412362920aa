"""A PNG of a run: pending pods, nodes by state, requested vs provisioned vCPU and memory over
time, and where the provisioned vCPU-hours went."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from autoscaler.sim.stats import VCPU_BREAKDOWN, Series


def _hours(series: Series) -> list[float]:
    return [t / 3600 for t in series.time]


BREAKDOWN_COLOURS = {
    "requested": "tab:gray",
    "daemonsets": "tab:brown",
    "kubelet_reserved": "tab:pink",
    "idle_on_ready_nodes": "tab:orange",
    "idle_on_draining_nodes": "tab:red",
    "vms_not_ready": "tab:blue",
}


def _breakdown_bars(axis: Axes, breakdowns: Mapping[str, Mapping[str, float]]) -> None:
    """One stacked bar per run, in vCPU-hours per requested vCPU-hour: the bar's length is
    the run's provisioned / requested ratio."""
    labels = list(breakdowns)
    for row, label in enumerate(labels):
        parts = breakdowns[label]
        requested = parts.get("requested") or 1.0
        left = 0.0
        for key, colour in BREAKDOWN_COLOURS.items():
            width = parts.get(key, 0.0) / requested
            legend = VCPU_BREAKDOWN[key] if row == 0 else None
            axis.barh(row, width, left=left, color=colour, label=legend)
            left += width
        axis.text(left, row, f" {left:.3f}", va="center", fontsize="small")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("provisioned vCPU-hours per requested vCPU-hour")
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), fontsize="small", ncols=3)
    axis.grid(True, axis="x", alpha=0.3)


def write_plot(
    path: str | Path,
    series: Series,
    title: str,
    baseline: Series | None = None,
    breakdowns: Mapping[str, Mapping[str, float]] | None = None,
) -> None:
    """Write the figure; raise OSError when the file cannot be written."""
    rows = 5 if breakdowns else 4
    figure = plt.figure(figsize=(11, 3 * rows))
    grid = figure.add_gridspec(rows, 1)
    first = figure.add_subplot(grid[0])
    axes = [first, *(figure.add_subplot(grid[i], sharex=first) for i in range(1, 4))]
    try:
        hours = _hours(series)
        pending, nodes, cpu, memory = axes
        pending.plot(hours, series.pending, label="pending pods", color="tab:red")
        nodes.plot(hours, series.ready, label="ready", color="tab:green")
        nodes.plot(hours, series.launching, label="launching", color="tab:blue")
        nodes.plot(hours, series.draining, label="draining", color="tab:orange")
        cpu.plot(hours, series.cpu_provisioned, label="vCPU provisioned", color="tab:purple")
        cpu.plot(hours, series.cpu_requested, label="vCPU requested", color="tab:gray")
        memory.plot(hours, series.memory_provisioned, label="GiB provisioned", color="tab:purple")
        memory.plot(hours, series.memory_requested, label="GiB requested", color="tab:gray")
        if baseline is not None:
            base = _hours(baseline)
            pending.plot(base, baseline.pending, "--", color="tab:red", label="fixed shape")
            nodes.plot(base, baseline.ready, "--", color="tab:green", label="ready (fixed shape)")
            cpu.plot(
                base,
                baseline.cpu_provisioned,
                color="tab:olive",
                label="provisioned (fixed shape)",
                linestyle="--",
                alpha=0.8,
            )
            memory.plot(
                base,
                baseline.memory_provisioned,
                color="tab:olive",
                label="provisioned (fixed shape)",
                linestyle="--",
                alpha=0.8,
            )
        for axis, ylabel in zip(axes, ("pods", "nodes", "vCPU", "memory (GiB)"), strict=True):
            axis.set_ylabel(ylabel)
            axis.grid(True, alpha=0.3)
            axis.legend(loc="upper right", fontsize="small")
        axes[-1].set_xlabel("simulated time (hours)")
        if breakdowns:
            _breakdown_bars(figure.add_subplot(grid[4]), breakdowns)
        figure.suptitle(title)
        figure.tight_layout()
        figure.savefig(path, format="png", dpi=90)
    finally:
        plt.close(figure)
