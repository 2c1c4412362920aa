"""The fault suite's share in CI: two short runs of ``scripts/fault-suite``'s categories against
the real ``kubevirt-autoscaler run`` process, each asserting every invariant (no PDB violation,
no deletion of a VM or Node with workload pods, nothing leaked or duplicated, converged after
each fault change). The long version, with every category, seeds and kill points, prints its
figures: ``scripts/fault-suite``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from fault_scenarios import error_rates, kill_at_write, run_case


def _report(result: object) -> str:
    failures = getattr(result, "failures", [])
    return "\n".join(failures)


@pytest.mark.slow
async def test_twenty_percent_errors_on_both_clusters_break_no_invariant(tmp_path: Path) -> None:
    shrink_once = functools.partial(error_rates, rounds=1)
    result = await run_case("errors 20%", shrink_once, 0.2, seed=1, workdir=tmp_path)
    assert result.phases and not result.failures, _report(result)


@pytest.mark.slow
async def test_a_controller_killed_at_a_write_and_restarted_breaks_no_invariant(
    tmp_path: Path,
) -> None:
    shrink_once = functools.partial(kill_at_write, steps=(2,))
    result = await run_case("kill -9", shrink_once, (3, "after"), seed=1, workdir=tmp_path)
    assert result.detail.startswith("killed after write 3"), result.detail
    assert result.phases and not result.failures, _report(result)
