"""A PNG of a run: pending pods, nodes by state, and requested vs provisioned vCPU and memory."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from autoscaler.sim.stats import Series


def _hours(series: Series) -> list[float]:
    return [t / 3600 for t in series.time]


def write_plot(
    path: str | Path, series: Series, title: str, baseline: Series | None = None
) -> None:
    """Write the figure; raise OSError when the file cannot be written."""
    figure, axes = plt.subplots(4, 1, figsize=(11, 12), sharex=True)
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
            dashed = {"linestyle": "--", "alpha": 0.8}
            pending.plot(base, baseline.pending, "--", color="tab:red", label="fixed shape")
            nodes.plot(base, baseline.ready, "--", color="tab:green", label="ready (fixed shape)")
            cpu.plot(
                base,
                baseline.cpu_provisioned,
                color="tab:olive",
                label="provisioned (fixed shape)",
                **dashed,
            )
            memory.plot(
                base,
                baseline.memory_provisioned,
                color="tab:olive",
                label="provisioned (fixed shape)",
                **dashed,
            )
        for axis, ylabel in zip(axes, ("pods", "nodes", "vCPU", "memory (GiB)"), strict=True):
            axis.set_ylabel(ylabel)
            axis.grid(True, alpha=0.3)
            axis.legend(loc="upper right", fontsize="small")
        axes[-1].set_xlabel("simulated time (hours)")
        figure.suptitle(title)
        figure.tight_layout()
        figure.savefig(path, format="png", dpi=90)
    finally:
        plt.close(figure)
