"""values.schema.json: strict, documented, and rejecting bad values with a message that names
the offending key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import helm_python
import pytest
import yaml
from chart_helpers import CHART
from hypothesis import given, settings
from hypothesis import strategies as st

SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}.*")


def test_default_values_satisfy_the_schema(chart: helm_python.Chart) -> None:
    chart.validate_schema(chart.values)


def test_every_object_in_the_schema_is_closed() -> None:
    open_objects = [
        path
        for path, node in _walk(SCHEMA, "values")
        if node.get("type") == "object"
        and path != "values.global"
        and node.get("additionalProperties", True) is True
    ]
    assert open_objects == []


def test_every_value_is_described() -> None:
    undocumented = [
        path
        for path, node in _walk(SCHEMA, "values")
        if path != "values" and not path.endswith(("[]", ".*")) and not node.get("description")
    ]
    assert undocumented == []


def test_values_yaml_documents_every_top_level_key() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(SCHEMA["properties"]) - {"global"} == set(defaults)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": -1}, "/replicaCount': minimum"),
        ({"replicaCount": "two"}, "/replicaCount': got string, want integer"),
        ({"replicaCount": 1.5}, "/replicaCount'"),
        ({"replicaCuont": 2}, "'replicaCuont' not allowed"),
        ({"image": {"tagg": "v1"}}, "/image': additional properties 'tagg' not allowed"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy'"),
        ({"image": {"digest": "sha256:short"}}, "/image/digest'"),
        ({"settings": {"metricsPort": 80}}, "/settings/metricsPort': minimum"),
        ({"settings": {"logFormat": "xml"}}, "/settings/logFormat'"),
        (
            {"serviceAccount": {"create": "yes"}},
            "/serviceAccount/create': got string, want boolean",
        ),
        ({"leaderElection": {"leaseName": "Not_A_Name"}}, "/leaderElection/leaseName'"),
        ({"leaderElection": {"leaseDurationSeconds": 1}}, "/leaderElection/leaseDurationSeconds'"),
        ({"resources": {"requests": {"cpu": "lots"}}}, "/resources/requests/cpu'"),
        ({"resources": {"requests": {"gpu": "1"}}}, "'gpu' not allowed"),
        ({"serviceMonitor": {"interval": "30 seconds"}}, "/serviceMonitor/interval'"),
        ({"podDisruptionBudget": {"maxUnavailable": 0}}, "/podDisruptionBudget/maxUnavailable'"),
        ({"tolerations": [{"key": "a", "operator": "Maybe"}]}, "/tolerations/0/operator'"),
        ({"extraEnv": [{"name": "A"}]}, "/extraEnv/0': missing property 'value'"),
        ({"nodeSelector": {"zone": 1}}, "/nodeSelector/zone': got number, want string"),
        (
            {"networkPolicy": {"apiServer": {"cidrs": ["not-a-cidr"]}}},
            "/networkPolicy/apiServer/cidrs/0'",
        ),
        ({"networkPolicy": {"dns": {"ports": [70000]}}}, "/networkPolicy/dns/ports/0': maximum"),
        (
            {"prometheusRule": {"criticalSeverity": "page: now"}},
            "/prometheusRule/criticalSeverity'",
        ),
    ],
)
def test_bad_values_are_rejected_naming_the_key(
    chart: helm_python.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm_python.HelmValuesError) as rejected:
        chart.validate_schema(chart.merge_values(values))
    assert message in str(rejected.value)


def test_rendering_refuses_bad_values(chart: helm_python.Chart) -> None:
    with pytest.raises(helm_python.HelmValuesError, match="/replicaCount"):
        chart.render({"replicaCount": -1}, name="kubevirt-autoscaler", namespace="kvpool-system")


@settings(max_examples=25, deadline=None)
@given(replicas=st.integers(min_value=-1000, max_value=1000))
def test_replica_count_is_accepted_exactly_within_its_bounds(replicas: int) -> None:
    with helm_python.Chart.load(CHART) as chart:
        values = chart.merge_values({"replicaCount": replicas})
        if 0 <= replicas <= 5:
            chart.validate_schema(values)
        else:
            with pytest.raises(helm_python.HelmValuesError, match="/replicaCount"):
                chart.validate_schema(values)
