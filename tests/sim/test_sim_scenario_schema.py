"""Scenario files: every shipped one loads; mistakes are reported with file, path and remedy."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autoscaler.sim.scenario import (
    ScenarioError,
    load_scenario,
    parse_scenario_text,
    shipped_scenarios,
)

SHIPPED = {"default", "diurnal", "burst", "host-exhaustion", "image-rollout", "boot-failures"}


def _minimal() -> dict[str, object]:
    document = yaml.safe_load(
        """
        duration: 10m
        tenant:
          shapes:
            cpu: {min: "2", max: "8", step: "2"}
            memory: {min: 4Gi, max: 32Gi, step: 2Gi}
            memoryPerCPU: {min: 1Gi, max: 8Gi}
          images: [{name: img, containerDisk: registry.example/worker:1}]
        hosts: [{name: metal, count: 2, cpu: 32, memory: 128Gi}]
        pools: [{name: general, annotations: {kvpool.io/image: img}}]
        workloads:
          deployments:
            - name: web
              pod: {requests: {cpu: 500m, memory: 1Gi}}
              replicas: 3
        """
    )
    assert isinstance(document, dict)
    return document


def test_every_shipped_scenario_loads() -> None:
    assert set(shipped_scenarios()) >= SHIPPED
    for name in SHIPPED:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.duration > 0
        assert scenario.vms.boot_time > 0


def test_a_minimal_scenario_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(_minimal()))
    scenario = load_scenario(str(path))
    assert scenario.duration == 600
    assert scenario.workloads.deployments[0].replicas.value_at(0) == 3


def test_an_unknown_field_names_the_file_the_path_and_the_allowed_fields(tmp_path: Path) -> None:
    document = _minimal()
    document["hosts"] = [{"name": "metal", "cpus": 32, "memory": "128Gi"}]
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    message = str(caught.value)
    assert str(path) in message
    assert "hosts[0].cpus" in message
    assert "allowed fields: count, cpu, memory, name" in message


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"duration": "ten minutes"}, "duration", "not a duration"),
        ({"duration": -5}, "duration", "seconds must be finite and >= 0"),
        ({"seed": "x"}, "seed", "valid integer"),
        ({"pools": []}, "pools", "at least 1"),
        ({"hosts": [{"name": "m", "cpu": "lots", "memory": "1Gi"}]}, "hosts[0].cpu", "lots"),
    ],
)
def test_bad_values_are_reported_with_their_path(
    change: dict[str, object], path: str, fragment: str
) -> None:
    document = _minimal() | change
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(yaml.safe_dump(document), "bad.yaml")
    message = str(caught.value)
    assert message.startswith("bad.yaml: invalid scenario")
    assert f"at {path}:" in message
    assert fragment in message


def test_nested_workload_errors_name_the_workload() -> None:
    document = _minimal()
    document["workloads"] = {
        "deployments": [
            {
                "name": "web",
                "pod": {"requests": {"cpu": "half"}},
                "replicas": {"steps": [{"at": 0, "value": 1}], "diurnal": {"min": 1, "max": 2}},
                "pdb": {"minAvailable": 1, "maxUnavailable": 1},
            }
        ]
    }
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(yaml.safe_dump(document), "bad.yaml")
    message = str(caught.value)
    assert "workloads.deployments[0].pod.requests" in message and "'half'" in message
    assert "give exactly one of constant, steps, ramp, diurnal" in message
    assert "give exactly one of minAvailable, maxUnavailable" in message


def test_events_must_refer_to_existing_things() -> None:
    document = _minimal()
    document["events"] = [{"at": "5m", "scaleDeployment": {"name": "nope", "replicas": 2}}]
    with pytest.raises(ScenarioError, match="events\\[0\\]: no deployment default/nope"):
        parse_scenario_text(yaml.safe_dump(document), "bad.yaml")


def test_not_yaml_and_not_a_mapping_are_clear_errors() -> None:
    with pytest.raises(ScenarioError, match=r"x\.yaml: not valid YAML"):
        parse_scenario_text("duration: [", "x.yaml")
    with pytest.raises(ScenarioError, match="must be a YAML mapping"):
        parse_scenario_text("- 1\n- 2\n", "x.yaml")


def test_an_unknown_name_lists_the_shipped_scenarios() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario("no-such-scenario")
    assert "shipped: " in str(caught.value)
    assert "diurnal" in str(caught.value)


def test_replica_schedules_follow_their_shape() -> None:
    scenario = load_scenario("default")
    web = next(d for d in scenario.workloads.deployments if d.name == "web")
    assert web.replicas.value_at(0) == 20
    assert web.replicas.value_at(1800) == 50  # halfway up the first ramp
    assert web.replicas.value_at(10 * 3600) == 24
    diurnal = load_scenario("diurnal").workloads.deployments[0].replicas
    assert diurnal.diurnal is not None
    peak = diurnal.value_at(diurnal.diurnal.peak_at)
    trough = diurnal.value_at(diurnal.diurnal.peak_at + diurnal.diurnal.period / 2)
    assert (peak, trough) == (diurnal.diurnal.max, diurnal.diurnal.min)
