"""Files generated from the chart stay in step with it: manifests/install.yaml, the
observability copies, and the CRD copies taken from manifests/crds."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from chart_helpers import CHART, ROOT, SUPPORTED_KUBERNETES, validate_object

from autoscaler.commands import render as render_command
from autoscaler.commands.render import TENANT_CRDS, stale_files

CRD_SOURCE = ROOT / "manifests/crds"
INSTALL = ROOT / "manifests/install.yaml"
EXAMPLES = ROOT / "manifests/tenant/examples"
REGENERATE = "run `kubevirt-autoscaler render-chart --write` and commit the result"


def run_render_chart(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    render_command.register(parser.add_subparsers())
    args = parser.parse_args(["render-chart", *argv])
    result: int = args.handler(args)
    return result


def crd_yaml(plural: str, kind: str, scope: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: {plural}.autoscaling.kvpool.io
        spec:
          group: autoscaling.kvpool.io
          names: {{kind: {kind}, plural: {plural}, singular: {kind.lower()}, listKind: {kind}List}}
          scope: {scope}
          versions:
            - name: v1alpha1
              served: true
              storage: true
              schema:
                openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
        """
    )


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    shutil.copytree(CHART, tmp_path / "charts/kubevirt-autoscaler")
    (tmp_path / "manifests/crds").mkdir(parents=True)
    for path in CRD_SOURCE.glob("*.yaml"):
        shutil.copy(path, tmp_path / "manifests/crds" / path.name)
    assert run_render_chart("--write", "--root", str(tmp_path)) == 0
    return tmp_path


def test_generated_files_are_up_to_date() -> None:
    assert stale_files(ROOT) == [], REGENERATE


def test_chart_crds_mirror_manifests_crds() -> None:
    expected_in_chart: dict[str, str] = {}
    for source in sorted(CRD_SOURCE.glob("*.yaml")):
        name = yaml.safe_load(source.read_text())["metadata"]["name"]
        if name in TENANT_CRDS:
            copy = ROOT / "manifests/tenant" / source.name
        else:
            copy = CHART / "crds" / source.name
            expected_in_chart[source.name] = source.read_text()
        assert copy.is_file(), f"{copy.relative_to(ROOT)} is missing; {REGENERATE}"
        assert copy.read_text() == source.read_text(), f"{copy} differs; {REGENERATE}"
    in_chart = {p.name for p in (CHART / "crds").glob("*")} if (CHART / "crds").is_dir() else set()
    assert in_chart == set(expected_in_chart), REGENERATE


@pytest.mark.parametrize("kubernetes_version", SUPPORTED_KUBERNETES)
def test_install_manifest_validates(kubernetes_version: str) -> None:
    objects = [obj for obj in yaml.safe_load_all(INSTALL.read_text()) if obj]
    kinds = {obj["kind"] for obj in objects}
    assert {"Namespace", "Deployment", "ClusterRole", "Role", "Service"} <= kinds
    for obj in objects:
        validate_object(obj, kubernetes_version)


def test_install_manifest_creates_the_namespace_first_and_enforces_restricted_pods() -> None:
    objects = [obj for obj in yaml.safe_load_all(INSTALL.read_text()) if obj]
    namespace = objects[0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    names = {obj["metadata"].get("namespace") for obj in objects[1:]} - {None}
    assert names == {namespace["metadata"]["name"]}


def _crd_for(group: str, kind: str) -> dict[str, Any] | None:
    for path in sorted(CRD_SOURCE.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            return dict(crd)
    return None


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate_against_their_crds(example: Path) -> None:
    obj = yaml.safe_load(example.read_text())
    group, version = obj["apiVersion"].split("/")
    crd = _crd_for(group, obj["kind"])
    if crd is None:
        pytest.skip(f"manifests/crds holds no CRD for {obj['kind']} yet")
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    jsonschema.validate(obj, served["schema"]["openAPIV3Schema"])


def test_write_then_check_is_clean(repo_copy: Path) -> None:
    assert run_render_chart("--check", "--root", str(repo_copy)) == 0


def test_check_reports_an_edited_install_manifest(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install = repo_copy / "manifests/install.yaml"
    install.write_text(install.read_text().replace("replicas: 2", "replicas: 3"))
    assert run_render_chart("--check", "--root", str(repo_copy)) == 1
    assert "out of date: manifests/install.yaml" in capsys.readouterr().err


def test_crds_are_copied_where_each_cluster_serves_them(repo_copy: Path) -> None:
    crds = repo_copy / "manifests/crds"
    for stale in crds.glob("*.yaml"):
        stale.unlink()
    (crds / "autoscaling.kvpool.io_tenantclusters.yaml").write_text(
        crd_yaml("tenantclusters", "TenantCluster", "Namespaced")
    )
    (crds / "autoscaling.kvpool.io_nodepools.yaml").write_text(
        crd_yaml("nodepools", "NodePool", "Cluster")
    )
    orphan = repo_copy / "charts/kubevirt-autoscaler/crds/old.yaml"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_text("kind: Removed\n")
    assert run_render_chart("--check", "--root", str(repo_copy)) == 1
    assert run_render_chart("--write", "--root", str(repo_copy)) == 0

    chart_crds = sorted(p.name for p in (repo_copy / "charts/kubevirt-autoscaler/crds").iterdir())
    assert chart_crds == ["autoscaling.kvpool.io_tenantclusters.yaml"]
    tenant_copy = repo_copy / "manifests/tenant/autoscaling.kvpool.io_nodepools.yaml"
    assert tenant_copy.read_text() == crd_yaml("nodepools", "NodePool", "Cluster")
    installed = list(yaml.safe_load_all((repo_copy / "manifests/install.yaml").read_text()))
    crd_names = [
        o["metadata"]["name"] for o in installed if o["kind"] == "CustomResourceDefinition"
    ]
    assert crd_names == ["tenantclusters.autoscaling.kvpool.io"]
    assert run_render_chart("--check", "--root", str(repo_copy)) == 0


def test_a_broken_crd_is_reported_not_raised(
    repo_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo_copy / "manifests/crds/broken.yaml").write_text("kind: [unclosed\n")
    assert run_render_chart("--write", "--root", str(repo_copy)) == 1
    assert "broken.yaml is not valid YAML" in capsys.readouterr().err


def test_a_missing_chart_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_render_chart("--check", "--root", str(tmp_path)) == 2
    assert "no chart at" in capsys.readouterr().err
