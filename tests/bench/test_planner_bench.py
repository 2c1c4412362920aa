"""The planner benchmark: its worlds, its figures and its command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoscaler.api.resources import Resources
from autoscaler.bench.planner import fixed_shape_packing, lower_bound_vms
from autoscaler.bench.worlds import SCENARIOS, build_world
from autoscaler.cli import main
from autoscaler.core.model import Pod
from autoscaler.core.overhead import GI
from autoscaler.core.pending import pending_pods

REQUIRED_KEYS = {
    "name",
    "pending_pods",
    "nodes",
    "plan_seconds_median",
    "pods_per_second",
    "vms_planned",
    "lower_bound_vms",
    "fixed_shape_vms",
    "packing_efficiency",
    "vm_vcpus_provisioned",
    "fixed_shape_vcpus",
}


def test_worlds_are_seeded_and_sized_as_named() -> None:
    scenario = SCENARIOS["1k-pods-100-nodes"]
    first, again = build_world(scenario, seed=3), build_world(scenario, seed=3)
    assert first.snapshot == again.snapshot
    assert len(pending_pods(first.snapshot.pods)) == 1000
    assert len(first.snapshot.nodes) == 100
    other = build_world(scenario, seed=4)
    assert other.snapshot.pods != first.snapshot.pods
    distinct = {p.requests for p in pending_pods(first.snapshot.pods)}
    assert 10 <= len(distinct) <= 60


def test_lower_bound_and_fixed_shape_packing() -> None:
    room = Resources.of(cpu=4000, memory=8 * GI, pods=110)
    pods = [Pod("d", f"p{i}", requests=Resources.of(1500, GI)) for i in range(5)]
    assert lower_bound_vms(pods, room) == 2  # 7.5 cores over 4-core VMs
    assert lower_bound_vms([], room) == 0
    nodes, unplaceable = fixed_shape_packing(
        [*pods, Pod("d", "huge", requests=Resources.of(5000, GI))], room
    )
    assert nodes == 3 and unplaceable == 1  # two 1.5-core pods per node


def test_bench_command_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--json", "--scenario", "1k-pods-100-nodes", "--runs", "1"]) == 0
    document = json.loads(capsys.readouterr().out)
    (row,) = document["scenarios"]
    assert set(row) >= REQUIRED_KEYS
    assert row["name"] == "1k-pods-100-nodes" and row["pending_pods"] == 1000
    assert row["vms_planned"] >= row["lower_bound_vms"] > 0
    assert 0 < row["packing_efficiency"] <= 1


def test_bench_command_rejects_unknown_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--scenario", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_bench_command_writes_a_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "planner.png"
    args = ["bench", "--scenario", "1k-pods-100-nodes", "--runs", "1", "--plot", str(target)]
    assert main(args) == 0
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "planner benchmark" in capsys.readouterr().out


def test_bench_command_reports_an_unwritable_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "planner.png"
    args = ["bench", "--scenario", "1k-pods-100-nodes", "--runs", "1", "--plot", str(target)]
    assert main(args) == 1
    assert "cannot write" in capsys.readouterr().err


def test_unique_worlds_give_every_pending_pod_its_own_requests() -> None:
    world = build_world(SCENARIOS["1k-unique-200-nodes"], seed=2)
    pending = pending_pods(world.snapshot.pods)
    assert len(pending) == 1000
    assert len({p.requests for p in pending}) >= 990
    assert world.snapshot == build_world(SCENARIOS["1k-unique-200-nodes"], seed=2).snapshot
