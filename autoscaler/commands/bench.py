"""``kubevirt-autoscaler bench``: measure the planner on seeded worlds, or the controller
against the testbed's fake API servers (``--suite controller``, needs the testbed installed)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence

from autoscaler.bench.planner import PlannerFigures, run_planner_suite
from autoscaler.bench.worlds import SCENARIOS

# One runner per suite; each returns rows of JSON-ready figures.
Suite = Callable[[argparse.Namespace], list[dict[str, object]]]


def _planner(args: argparse.Namespace) -> list[dict[str, object]]:
    figures: list[PlannerFigures] = run_planner_suite(args.scenario, args.seed, args.runs)
    return [f.as_json() for f in figures]


TESTBED_MISSING = (
    "the controller suite runs the controller against the fake API servers and agents of the "
    "testbed, which is not installed; from a checkout of the repository install it with "
    "`pip install -e '.[test]' -e ./testbed` (or `pip install ./testbed`) and run again"
)


class TestbedMissing(Exception):
    """The controller suite needs the ``kubevirt-autoscaler-testbed`` distribution."""


def _controller(_: argparse.Namespace) -> list[dict[str, object]]:
    # Loaded by name: the product never imports the testbed (an import contract), and the
    # product's wheel does not carry it.
    try:
        bench = importlib.import_module("testbed.controller_bench")
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.split(".")[0] == "testbed":
            raise TestbedMissing(TESTBED_MISSING) from None
        raise
    return [bench.run_controller_suite().as_json()]


SUITES: dict[str, Suite] = {"planner": _planner, "controller": _controller}

_COLUMNS = (
    ("name", "scenario"),
    ("plan_seconds_median", "plan s"),
    ("pods_per_second", "pods/s"),
    ("pods_in_new_vms", "new-VM pods"),
    ("vms_planned", "VMs"),
    ("lower_bound_vms", "bound"),
    ("fixed_shape_vms", "fixed VMs"),
    ("packing_efficiency", "packing"),
    ("vm_vcpus_provisioned", "vCPUs"),
    ("fixed_shape_vcpus", "fixed vCPUs"),
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure planning speed and packing quality",
        description="Run a benchmark suite on seeded worlds and print its figures.",
    )
    parser.add_argument(
        "--suite", choices=sorted(SUITES), default="planner", help="what to measure"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        metavar="NAME",
        help=f"a scenario to run (repeatable; default all): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="also write the planner figures as a PNG"
    )
    parser.add_argument("--seed", type=int, default=1, help="world seed (default 1)")
    parser.add_argument(
        "--runs",
        type=_positive,
        default=None,
        help="timed runs per scenario (default: per scenario)",
    )
    parser.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        rows = SUITES[args.suite](args)
    except TestbedMissing as missing:
        print(f"kubevirt-autoscaler bench: {missing}", file=sys.stderr)
        return 2
    if args.suite == "controller":  # one JSON object of figures
        json.dump(rows[0], sys.stdout)
        sys.stdout.write("\n")
        return 0
    if args.json:
        json.dump({"scenarios": rows}, sys.stdout)
        sys.stdout.write("\n")
    else:
        _print_table(args.suite, rows)
    if args.plot:
        from autoscaler.bench.plot import write_planner_plot

        try:
            write_planner_plot(args.plot, rows)
        except OSError as error:
            print(f"error: cannot write {args.plot}: {error}", file=sys.stderr)
            return 1
    return 0


def _print_table(suite: str, rows: Sequence[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{suite} benchmark")
    for _, header in _COLUMNS:
        table.add_column(header, justify="left" if header == "scenario" else "right")
    for row in rows:
        table.add_row(*(_cell(row.get(key, "")) for key, _ in _COLUMNS))
    Console(width=max(Console().width, 120)).print(table)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
