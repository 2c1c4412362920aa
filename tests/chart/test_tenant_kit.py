"""The tenant kubeconfig script and the e2e kit: what a platform team runs by hand."""

from __future__ import annotations

import base64
import importlib.util
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from chart_helpers import ROOT

SCRIPT = ROOT / "manifests/tenant/make-kubeconfig-secret.sh"
E2E = ROOT / "e2e"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _load_e2e_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kvpool_e2e", E2E / "kvpool_e2e.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kvpool_e2e", module)
    spec.loader.exec_module(module)
    return module


kvpool_e2e = _load_e2e_module()


@pytest.fixture
def fake_kubectl(tmp_path: Path) -> Path:
    """A kubectl that serves the tenant's token Secret and records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    token = base64.b64encode(TOKEN.encode()).decode()
    ca = base64.b64encode(CA.encode()).decode()
    kubectl.write_text(
        textwrap.dedent(
            f"""\
            #!/usr/bin/env bash
            echo "$*" >> "{tmp_path}/kubectl.log"
            [[ -f "{tmp_path}/fail" ]] && {{ echo 'secrets "x" not found' >&2; exit 1; }}
            case "$*" in
              *'jsonpath={{.data.token}}'*) printf '%s' '{token}' ;;
              *'jsonpath={{.data.ca\\.crt}}'*) printf '%s' '{ca}' ;;
              *) exit 2 ;;
            esac
            """
        )
    )
    kubectl.chmod(0o755)
    return bin_dir


def run_script(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, check=False
    )


def test_script_builds_a_kubeconfig_secret_for_the_tenant_identity(
    fake_kubectl: Path, tmp_path: Path
) -> None:
    result = run_script(
        fake_kubectl,
        *("--server", "https://10.0.0.5:6443", "--name", "team-a-kubeconfig"),
        *("--context", "team-a-admin"),
    )
    assert result.returncode == 0, result.stderr
    secret = yaml.safe_load(result.stdout)
    assert secret["kind"] == "Secret"
    assert secret["metadata"] == {
        "name": "team-a-kubeconfig",
        "namespace": "kvpool-system",
        "labels": {"app.kubernetes.io/part-of": "kubevirt-autoscaler"},
    }
    kubeconfig_text = base64.b64decode(secret["data"]["value"]).decode()
    kubeconfig = yaml.safe_load(kubeconfig_text)
    (cluster,) = kubeconfig["clusters"]
    assert cluster["name"] == "team-a"
    assert cluster["cluster"]["server"] == "https://10.0.0.5:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode() == CA
    (user,) = kubeconfig["users"]
    assert user["user"] == {"token": TOKEN}
    kubeconfig_file = tmp_path / "kubeconfig"
    kubeconfig_file.write_text(kubeconfig_text)
    assert kvpool_e2e.check_kubeconfig(str(kubeconfig_file), "KUBECONFIG") == kubeconfig_file
    calls = (tmp_path / "kubectl.log").read_text()
    assert "--context team-a-admin" in calls
    assert "--namespace kvpool-system get secret kubevirt-autoscaler-token" in calls


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--name", "a"), "--server is required"),
        (("--server", "http://plain:6443", "--name", "a"), "must be an https:// URL"),
        (("--server", "https://t:6443"), "--name is required"),
        (("--server", "https://t:6443", "--name", "Team_A"), "--name must be a DNS label"),
        (("--server", "https://t:6443", "--name", "a", "--bogus"), "unknown argument: --bogus"),
        (("--server",), "--server needs a value"),
    ],
)
def test_script_rejects_bad_arguments(
    fake_kubectl: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_script(fake_kubectl, *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout.strip() == "" or result.stdout.startswith("usage:")


def test_script_explains_a_missing_token_secret(fake_kubectl: Path, tmp_path: Path) -> None:
    (tmp_path / "fail").touch()
    result = run_script(fake_kubectl, "--server", "https://t:6443", "--name", "a")
    assert result.returncode == 1
    assert "apply identity.yaml there first" in result.stderr
    assert "apiVersion" not in result.stdout


def _kubeconfig(tmp_path: Path, name: str, server: str = "https://127.0.0.1:6443") -> Path:
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_e2e_environment_without_clusters_means_the_fake_servers() -> None:
    assert kvpool_e2e.real_clusters_from_env({}) is None
    reason = kvpool_e2e.unset_reason({})
    assert kvpool_e2e.MANAGEMENT_VARIABLE in reason and kvpool_e2e.TENANT_VARIABLE in reason


def test_e2e_environment_with_both_kubeconfigs(tmp_path: Path) -> None:
    environ = {
        kvpool_e2e.MANAGEMENT_VARIABLE: str(_kubeconfig(tmp_path, "m")),
        kvpool_e2e.TENANT_VARIABLE: str(_kubeconfig(tmp_path, "t")),
    }
    clusters = kvpool_e2e.real_clusters_from_env(environ)
    assert clusters == kvpool_e2e.RealClusters(tmp_path / "m", tmp_path / "t")


def test_e2e_environment_with_one_kubeconfig_is_an_error(tmp_path: Path) -> None:
    environ = {kvpool_e2e.MANAGEMENT_VARIABLE: str(_kubeconfig(tmp_path, "m"))}
    with pytest.raises(kvpool_e2e.E2EConfigError, match=kvpool_e2e.TENANT_VARIABLE):
        kvpool_e2e.real_clusters_from_env(environ)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("key: [unclosed", "not a readable YAML file"),
        ("kind: Pod", "not a kubeconfig"),
        ("kind: Config\ncurrent-context: gone\ncontexts: []", "'gone' is not among its contexts"),
    ],
)
def test_e2e_environment_rejects_unusable_kubeconfigs(
    tmp_path: Path, content: str | None, message: str
) -> None:
    broken = tmp_path / "broken"
    if content is not None:
        broken.write_text(content)
    environ = {
        kvpool_e2e.MANAGEMENT_VARIABLE: str(broken),
        kvpool_e2e.TENANT_VARIABLE: str(_kubeconfig(tmp_path, "t")),
    }
    with pytest.raises(kvpool_e2e.E2EConfigError, match=message) as raised:
        kvpool_e2e.real_clusters_from_env(environ)
    assert kvpool_e2e.MANAGEMENT_VARIABLE in str(raised.value)


def test_e2e_environment_rejects_a_plain_http_server(tmp_path: Path) -> None:
    environ = {
        kvpool_e2e.MANAGEMENT_VARIABLE: str(_kubeconfig(tmp_path, "m", "http://x:8080")),
        kvpool_e2e.TENANT_VARIABLE: str(_kubeconfig(tmp_path, "t")),
    }
    with pytest.raises(kvpool_e2e.E2EConfigError, match="https://"):
        kvpool_e2e.real_clusters_from_env(environ)


@pytest.mark.parametrize("script", sorted((E2E / "scripts").glob("*.sh")), ids=lambda p: p.name)
def test_e2e_scripts_parse(script: Path) -> None:
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    executable = bool(script.stat().st_mode & stat.S_IXUSR)
    assert executable == (script.name != "common.sh"), "scripts run, common.sh is sourced"


@pytest.mark.parametrize("config", sorted((E2E / "kind").glob("*.yaml")), ids=lambda p: p.name)
def test_kind_configs_describe_clusters(config: Path) -> None:
    cluster = yaml.safe_load(config.read_text())
    assert cluster["kind"] == "Cluster"
    assert cluster["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert cluster["nodes"][0]["role"] == "control-plane"


def test_join_example_is_cloud_config_with_a_kubeadm_join() -> None:
    text = (E2E / "image/join.cloud-init.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    cloud_config = yaml.safe_load(text)
    (join_file,) = cloud_config["write_files"]
    join = yaml.safe_load(join_file["content"])
    assert join["kind"] == "JoinConfiguration"
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"]
    assert ["kubeadm", "join", "--config", join_file["path"]] in cloud_config["runcmd"]
