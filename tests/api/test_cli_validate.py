from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TENANT = str(EXAMPLES / "tenantcluster.yaml")


def write(tmp_path: Path, name: str, *documents: Any) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


def test_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLES / "nodepool.yaml"), "--tenant", TENANT]) == 0
    out = capsys.readouterr().out
    assert "NodePool general: ok" in out
    assert "cpu: 2-16 cores in steps of 2" in out


def test_errors_and_warnings_are_printed_and_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pool = copy.deepcopy(example("nodepool.yaml"))
    pool["metadata"]["annotations"].update({"kvpool.io/cpu": "64", "kvpool.io/max-node": "3"})
    path = write(tmp_path, "pool.yaml", pool)
    assert main(["validate", path, "--tenant", TENANT]) == 1
    out = capsys.readouterr().out
    assert 'error: kvpool.io/cpu: "64" is outside the tenant\'s allowed cpu range 2-32' in out
    assert "warning: kvpool.io/max-node is not a known annotation" in out


def test_warnings_alone_do_not_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pool = copy.deepcopy(example("nodepool.yaml"))
    pool["metadata"]["annotations"]["kvpool.io/colour"] = "blue"
    assert main(["validate", write(tmp_path, "p.yaml", pool), "--tenant", TENANT, "-q"]) == 0
    assert "warning: kvpool.io/colour" in capsys.readouterr().out


def test_every_document_of_a_file_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = example("nodepool.yaml")
    bad = copy.deepcopy(good)
    bad["metadata"]["name"] = "broken"
    bad["spec"] = {"template": {"taints": [{"key": "k"}]}}
    path = write(tmp_path, "pools.yaml", good, bad)
    assert main(["validate", path, "--tenant", TENANT]) == 1
    out = capsys.readouterr().out
    assert "NodePool general: ok" in out
    assert "(document 2): NodePool broken: invalid" in out
    assert "error: spec.template.taints[0].effect: required field is missing" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind: NodePool\nmetadata: {name: [unclosed\n", "not valid YAML"),
        ("", "no NodePool in this file"),
        ("kind: Pod\nmetadata: {name: p}\n", "kind 'Pod' is not NodePool"),
    ],
)
def test_unusable_nodepool_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(content)
    assert main(["validate", str(path), "--tenant", TENANT]) == 1
    assert message in capsys.readouterr().out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "absent.yaml"), "--tenant", TENANT]) == 1
    assert "cannot read the file" in capsys.readouterr().out


def test_invalid_tenant_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tenant = copy.deepcopy(example("tenantcluster.yaml"))
    tenant["spec"]["shapes"]["cpu"]["min"] = "lots"
    path = write(tmp_path, "tenant.yaml", tenant)
    assert main(["validate", str(EXAMPLES / "nodepool.yaml"), "--tenant", path]) == 1
    out = capsys.readouterr().out
    assert "TenantCluster team-a" in out
    assert "error: spec.shapes.cpu.min: 'lots' is not a quantity" in out


def test_tenant_file_without_a_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "tenant.yaml", example("nodepool.yaml"))
    assert main(["validate", str(EXAMPLES / "nodepool.yaml"), "--tenant", path]) == 1
    assert "expected exactly one TenantCluster, found 0" in capsys.readouterr().out
