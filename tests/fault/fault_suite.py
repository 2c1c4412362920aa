"""The long fault suite: every category, several seeds and kill points, within a time budget.

    python tests/fault/fault_suite.py [--seeds N] [--budget SECONDS] [--only TEXT ...]

It prints one line per run as it goes, then a table of figures per category (worst case across
seeds) and the failures of every run, and exits 1 when any invariant was broken.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "integration", HERE.parents[1] / "e2e"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from fault_scenarios import (  # noqa: E402
    CONVERGE_WITHIN,
    WATCH_FAULTS,
    Category,
    RunResult,
    blackhole,
    error_rates,
    failed_cordons,
    kill_at_write,
    management_vm_watch,
    run_case,
    tenant_pod_watch,
)

# Kill points: the n-th controller write (of a kind, when one is named), killed before it is
# served or once it is answered.
KILL_POINTS = (
    (1, "after"),
    (2, "before"),
    (3, "after"),
    (4, "after"),
    (5, "before"),
    (7, "before"),
    (9, "after"),
    (12, "after"),
    (15, "before"),
    (18, "after"),
    # The first write of a kind, where a lost answer or a half-done step matters most.
    (1, "after", "create secrets"),
    (1, "before", "create virtualmachines"),
    (1, "after", "create virtualmachines"),
    (1, "after", "create pods/eviction"),
    (1, "after", "delete virtualmachines"),
    (1, "after", "patch nodes"),
)


@dataclass(frozen=True)
class Case:
    label: str
    body: Category
    param: object


def cases(seeds: int) -> Iterator[tuple[Case, int]]:
    """Every case for every seed, seed-major so that a short budget still covers each
    category once."""
    plain: list[Case] = [Case(f"errors {rate:.0%}", error_rates, rate) for rate in (0.05, 0.2, 0.5)]
    plain += [Case(f"tenant pod watch {kind}", tenant_pod_watch, kind) for kind in WATCH_FAULTS]
    plain += [Case(f"management VM watch {k}", management_vm_watch, k) for k in WATCH_FAULTS]
    plain.append(Case("blackholed tenant", blackhole, None))
    plain.append(Case("failed cordons", failed_cordons, 500))
    for seed in range(1, seeds + 1):
        for case in plain:
            yield case, seed
        # The seeds share the kill points out between them (one seed takes them all).
        for point in KILL_POINTS[seed - 1 :: seeds]:
            yield Case("kill -9 at write", kill_at_write, point), seed


def _p50(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _time(value: float) -> str:
    return "n/c" if math.isinf(value) else f"{value:.1f}s"


def table(results: list[RunResult]) -> str:
    by_category: dict[str, list[RunResult]] = {}
    for result in results:
        by_category.setdefault(result.category, []).append(result)
    header = (
        f"{'category':<34} {'runs':>4} {'PDB viol':>8} {'guarded':>7} {'leaked':>6} "
        f"{'dup':>4} {'failed':>6} {'conv p50':>8} {'conv max':>8}  worst seed"
    )
    lines = [header, "-" * len(header)]
    for category, runs in by_category.items():
        times = [math.inf if t is None else t for r in runs for t in r.convergence]
        worst = max(runs, key=lambda r: (len(r.failures), max(times or [0.0])))
        failed = sum(1 for r in runs if r.failures)
        lines.append(
            f"{category:<34} {len(runs):>4} {sum(r.pdb_violations for r in runs):>8} "
            f"{sum(len(r.guarded) for r in runs):>7} {sum(len(r.leaked) for r in runs):>6} "
            f"{sum(len(r.duplicated) for r in runs):>4} {failed:>6} "
            f"{_time(_p50(times)) if times else '-':>8} {_time(max(times)) if times else '-':>8}"
            f"  {worst.seed} ({len(worst.failures)} failures)"
        )
    lines.append(
        "conv: seconds until converged after each change of faults and demand, every phase "
        f"(n/c: not within the phase's limit, {CONVERGE_WITHIN:g}s or the fault's hold); "
        "phases whose fault rules convergence "
        "out (all cordons failing) or beyond the target (50 % errors) count in conv, not in failed"
    )
    return "\n".join(lines)


def describe(result: RunResult) -> str:
    times = ", ".join("-" if t is None else f"{t:.1f}" for t in result.convergence)
    status = "ok" if not result.failures else f"{len(result.failures)} FAILURES"
    detail = f" [{result.detail}]" if result.detail else ""
    return f"{result.category} seed={result.seed}{detail}: converged after [{times}] s: {status}"


async def main_async(args: argparse.Namespace) -> int:
    started = time.monotonic()
    results: list[RunResult] = []
    skipped = 0
    shown: set[str] = set()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="fault-suite-"))
    print(f"fault suite: seeds={args.seeds} budget={args.budget:g}s logs in {root}", flush=True)
    for index, (case, seed) in enumerate(cases(args.seeds)):
        if args.only and not any(text in case.label for text in args.only):
            continue
        if time.monotonic() - started > args.budget:
            skipped += 1
            continue
        workdir = root / f"{index:03d}-{case.label.replace(' ', '_').replace('%', 'pc')}-{seed}"
        workdir.mkdir(parents=True, exist_ok=True)
        result = await run_case(case.label, case.body, case.param, seed, workdir)
        results.append(result)
        print(describe(result), flush=True)
        (workdir / "result.txt").write_text(
            "\n".join([describe(result), *result.failures, *result.info]) + "\n"
        )
        for line in result.info:
            if line not in shown:
                shown.add(line)
                print(f"    ({line})", flush=True)
        for failure in result.failures:
            print(f"    {failure}", flush=True)
    print()
    print(table(results))
    elapsed = time.monotonic() - started
    print(f"\n{len(results)} runs in {elapsed:.0f}s; {skipped} not run (budget {args.budget:g}s)")
    return 1 if any(r.failures for r in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--budget", type=float, default=1500, help="no run starts after this many seconds"
    )
    parser.add_argument("--only", action="append", default=[], help="categories containing TEXT")
    parser.add_argument("--workdir", help="where each run keeps its controller log")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
