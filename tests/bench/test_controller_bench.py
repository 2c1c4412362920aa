"""The controller benchmark on a small world: it measures what it says it measures."""

from __future__ import annotations

import sys

import pytest

from autoscaler.cli import main
from testbed.controller_bench import (
    ControllerFigures,
    measure_memory,
    measure_reaction,
    percentile,
)


async def test_every_pod_of_a_burst_gets_a_reaction_time_from_a_vm_launched_for_it() -> None:
    reactions, vms = await measure_reaction(120)
    assert len(reactions) == 120
    assert vms >= 1
    assert all(seconds >= 0 for seconds in reactions)


def test_memory_is_measured_with_every_object_in_the_caches() -> None:
    pods, nodes, rss = measure_memory(tenants=2, pods=200, nodes=20)
    assert (pods, nodes) == (200, 20)
    assert rss > 0


def test_figures_and_percentiles() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 99) == 4.0
    figures = ControllerFigures(10, 50_000, 5_000, 1.23456, 1.9, 180.04)
    assert figures.as_json() == {
        "tenants": 10,
        "pods_cached": 50_000,
        "nodes_cached": 5_000,
        "reaction_seconds_p50": 1.235,
        "reaction_seconds_p99": 1.9,
        "rss_mib": 180.0,
    }


def test_the_controller_suite_says_how_to_get_the_testbed_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A None entry in sys.modules makes the import fail as if the testbed were not installed.
    monkeypatch.setitem(sys.modules, "testbed.controller_bench", None)
    monkeypatch.setitem(sys.modules, "testbed", None)
    assert main(["bench", "--suite", "controller"]) == 2
    err = capsys.readouterr().err
    assert "testbed" in err
    assert "pip install -e '.[test]' -e ./testbed" in err
