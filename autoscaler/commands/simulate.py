"""``kubevirt-autoscaler simulate``: run the autoscaler on a simulated world in virtual time."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from autoscaler.sim.durations import parse_seconds
from autoscaler.sim.runner import PolicyName, SimulationResult, simulate
from autoscaler.sim.scenario import Scenario, ScenarioError, load_scenario, shipped_scenarios


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "simulate",
        help="show what the autoscaler does for a workload, with no cluster at all",
        description=(
            "Run the real decision core against a simulated tenant cluster, KubeVirt and "
            "bare-metal hosts in virtual time, and summarise what happened. SCENARIO is a "
            f"shipped scenario ({', '.join(shipped_scenarios())}) or a scenario file; "
            "see docs/scenarios.md."
        ),
    )
    parser.add_argument("scenario", nargs="?", default="default", metavar="SCENARIO")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--plot", metavar="FILE.png", help="write a PNG of the run")
    parser.add_argument(
        "--compare",
        choices=["fixed-shape"],
        help="also run a fixed-shape baseline (like cluster-autoscaler) and compare",
    )
    parser.add_argument("--seed", type=int, help="override the scenario's random seed")
    parser.add_argument(
        "--duration", metavar="DURATION", help="override the simulated time, e.g. 30m or 3600"
    )
    parser.set_defaults(handler=run)


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_seconds(float(text) if _is_number(text) else text)
    except ValueError as exc:
        raise ScenarioError(f"--duration: {exc}") from None
    if seconds <= 0:
        raise ScenarioError("--duration: must be positive")
    return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _run(scenario: Scenario, policy: PolicyName, label: str, stderr: Console) -> SimulationResult:
    with Progress(
        TextColumn(f"[bold]{label}[/bold]"),
        BarColumn(),
        TextColumn("{task.fields[done]}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=scenario.duration, done="")

        def report(done: float, total: float) -> None:
            progress.update(task, completed=done, done=f"{done / 3600:.2f} h of {total / 3600:g} h")

        return simulate(scenario, policy, report)


def run(args: argparse.Namespace) -> int:
    stderr = Console(stderr=True)
    try:
        scenario = load_scenario(args.scenario).with_overrides(
            seed=args.seed, duration=_duration(args.duration)
        )
    except ScenarioError as exc:
        stderr.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        return 2
    result = _run(scenario, "kvpool", "kvpool autoscaler", stderr)
    baseline = None
    if args.compare == "fixed-shape":
        baseline = _run(scenario, "fixed-shape", "fixed-shape baseline", stderr)
    summary: dict[str, Any] = dict(result.summary)
    if baseline is not None:
        summary["baseline"] = baseline.summary
    if args.plot:
        from autoscaler.sim.plot import write_plot

        title = f"scenario {scenario.name} (seed {scenario.seed})"
        try:
            write_plot(
                args.plot,
                result.series,
                title,
                baseline.series if baseline else None,
                breakdowns=_breakdowns(result.summary, baseline.summary if baseline else None),
            )
        except OSError as exc:
            stderr.print(f"error: cannot write {args.plot}: {exc.strerror or exc}")
            return 1
    if args.json:
        json.dump(summary, sys.stdout, sort_keys=False)
        sys.stdout.write("\n")
        return 0
    _print_summary(summary, baseline.summary if baseline else None, scenario)
    return 0


def _breakdowns(
    summary: dict[str, Any], baseline: dict[str, Any] | None
) -> dict[str, dict[str, float]]:
    runs = {"kvpool autoscaler": summary}
    if baseline is not None:
        runs["fixed shape"] = baseline
    return {label: run["vcpu_hours_breakdown"] for label, run in runs.items()}


def _print_summary(
    summary: dict[str, Any], baseline: dict[str, Any] | None, scenario: Scenario
) -> None:
    from autoscaler.sim.report import breakdown_table, summary_table, unserved_table

    console = Console()
    if scenario.description:
        console.print(scenario.description, highlight=False)
    console.print(summary_table(summary, baseline))
    breakdown = breakdown_table(summary, baseline)
    if breakdown is not None:
        console.print(breakdown)
    unserved = unserved_table(summary)
    if unserved is not None:
        console.print(unserved)
    if baseline is not None:
        ours = summary.get("vcpu_hours_provisioned") or 0.0
        theirs = baseline.get("vcpu_hours_provisioned") or 0.0
        if theirs:
            console.print(
                f"vCPU-hours provisioned: {100 * (1 - ours / theirs):.1f} % fewer than "
                "the fixed-shape baseline",
                highlight=False,
            )
