from __future__ import annotations

import base64
import random
import re
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.cloudinit import (
    JOIN_CONFIG_PATH,
    BootstrapToken,
    KubeadmJoin,
    api_server_host_port,
    bootstrap_token_secret,
    kubeadm_join_user_data,
    new_bootstrap_token,
)
from autoscaler.api.naming import vm_name
from autoscaler.api.policy import ImageSource, Shape
from autoscaler.api.vmbuilder import VMIdentity
from autoscaler.core.model import Taint, TaintEffect

TOKEN = BootstrapToken("abcdef", "0123456789abcdef")
CA_HASH = "sha256:" + "ab" * 32
IDENTITY = VMIdentity(
    name=vm_name("team-a", "general", "k1"),
    namespace="team-a-vms",
    tenant="team-a",
    pool="general",
    shape=Shape(4000, 16 * 2**30),
    image=ImageSource("img", container_disk="registry.example/worker:v1"),
)


@dataclass(frozen=True)
class RawTaint:
    """A taint as a tenant may write it, effect unchecked."""

    key: str
    value: str
    effect: str


def render(
    labels: dict[str, str] | None = None,
    taints: tuple[Any, ...] = (),
    ca_hashes: tuple[str, ...] = (CA_HASH,),
    endpoint: str = "https://team-a.example:6443",
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    text = kubeadm_join_user_data(
        IDENTITY, KubeadmJoin(endpoint, TOKEN, ca_hashes), labels or {}, taints
    )
    cloud_config = yaml.safe_load(text)
    (file,) = cloud_config["write_files"]
    assert file["path"] == JOIN_CONFIG_PATH
    return text, cloud_config, yaml.safe_load(file["content"])


def kubelet_args(join: dict[str, Any]) -> dict[str, str]:
    return {arg["name"]: arg["value"] for arg in join["nodeRegistration"]["kubeletExtraArgs"]}


def parse_node_labels(flag: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in flag.split(","))


def test_cloud_config_joins_with_kubeadm() -> None:
    text, cloud_config, join = render()
    assert text.startswith("#cloud-config\n")
    assert cloud_config["runcmd"] == [["kubeadm", "join", "--config", JOIN_CONFIG_PATH]]
    assert cloud_config["write_files"][0]["permissions"] == "0600"
    assert join["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert join["kind"] == "JoinConfiguration"
    assert join["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "team-a.example:6443",
        "token": "abcdef.0123456789abcdef",
        "caCertHashes": [CA_HASH],
    }
    assert join["nodeRegistration"]["name"] == IDENTITY.name
    assert "unsafe" not in text.lower()


def test_without_a_ca_hash_verification_is_skipped_and_said_so() -> None:
    text, _, join = render(ca_hashes=())
    bootstrap = join["discovery"]["bootstrapToken"]
    assert bootstrap["unsafeSkipCAVerification"] is True
    assert "caCertHashes" not in bootstrap
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert any("unsafeSkipCAVerification" in line for line in comments)


def test_kubelet_args_carry_labels_taints_and_provider_id() -> None:
    taints = (
        Taint("dedicated", TaintEffect.NO_SCHEDULE, "gpu"),
        Taint("example.com/spot", TaintEffect.PREFER_NO_SCHEDULE),
    )
    _, _, join = render(labels={"pool": "general", "example.com/tier": "gold"}, taints=taints)
    args = kubelet_args(join)
    assert args["provider-id"] == f"kubevirt://{IDENTITY.name}"
    assert args["register-with-taints"] == (
        "dedicated=gpu:NoSchedule,example.com/spot:PreferNoSchedule"
    )
    labels = parse_node_labels(args["node-labels"])
    assert labels == {
        "pool": "general",
        "example.com/tier": "gold",
        "kvpool.io/tenant": "team-a",
        "kvpool.io/pool": "general",
        "kvpool.io/image-hash": IDENTITY.image.digest,
        "kvpool.io/shape": "4cpu-16Gi",
    }


def test_no_taints_means_no_register_with_taints() -> None:
    _, _, join = render()
    assert "register-with-taints" not in kubelet_args(join)


@pytest.mark.parametrize(
    "labels",
    [
        {"pool": "a,b=c"},
        {"pool": "x\nruncmd: [reboot]"},
        {"pool": "x: y"},
        {"pool": "a" * 64},
        {"pool": "${HOME}"},
        {"bad key": "v"},
        {"a=b": "v"},
        {"node-role.kubernetes.io/worker": ""},
        {"kubernetes.io/role": "worker"},
        {"kvpool.io/pool": "other"},
    ],
)
def test_hostile_or_invalid_labels_are_rejected_naming_the_key(labels: dict[str, str]) -> None:
    (key,) = labels
    with pytest.raises(ValueError) as caught:
        render(labels=labels)
    assert repr(key) in str(caught.value)


@pytest.mark.parametrize(
    "taint",
    [
        RawTaint("dedicated", "gpu", "NoRun"),
        RawTaint("dedicated", "gpu:NoExecute,evil=x", "NoSchedule"),
        RawTaint("bad key", "", "NoSchedule"),
        RawTaint("", "", "NoSchedule"),
    ],
)
def test_invalid_taints_are_rejected(taint: RawTaint) -> None:
    with pytest.raises(ValueError, match="taint"):
        render(taints=(taint,))


def test_labels_kubelets_may_set_are_accepted() -> None:
    labels = {"node.kubernetes.io/instance-type": "large", "topology.kubernetes.io/zone": "z1"}
    _, _, join = render(labels=labels)
    assert parse_node_labels(kubelet_args(join)["node-labels"]).items() >= labels.items()


label_name = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?", fullmatch=True)
label_key = st.one_of(
    label_name,
    st.tuples(st.from_regex(r"[a-z0-9]{1,10}\.com", fullmatch=True), label_name).map("/".join),
)
label_value = st.one_of(st.just(""), label_name)


@settings(max_examples=60, deadline=None)
@given(labels=st.dictionaries(label_key, label_value, max_size=6))
def test_valid_labels_round_trip_through_the_kubelet_flag(labels: dict[str, str]) -> None:
    _, _, join = render(labels=labels)
    node_labels = parse_node_labels(kubelet_args(join)["node-labels"])
    assert {k: v for k, v in node_labels.items() if not k.startswith("kvpool.io/")} == labels


@settings(max_examples=80, deadline=None)
@given(value=st.text(max_size=70))
def test_any_label_value_is_either_rejected_or_kept_exactly(value: str) -> None:
    try:
        _, _, join = render(labels={"pool": value})
    except ValueError as error:
        assert "'pool'" in str(error)
        return
    assert parse_node_labels(kubelet_args(join)["node-labels"])["pool"] == value


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://team-a.example:6443", "team-a.example:6443"),
        ("https://team-a.example", "team-a.example:6443"),
        ("team-a.example:7443", "team-a.example:7443"),
        ("https://10.0.0.1:6443/", "10.0.0.1:6443"),
        ("https://[fd00::1]:6443", "[fd00::1]:6443"),
    ],
)
def test_api_server_endpoint(endpoint: str, expected: str) -> None:
    assert api_server_host_port(endpoint) == expected


@pytest.mark.parametrize(
    "endpoint",
    ["", "http://team-a.example", "https://team-a.example/path", "https://a b", "https://:6443"],
)
def test_bad_api_server_endpoint_is_rejected(endpoint: str) -> None:
    with pytest.raises(ValueError, match="API server endpoint"):
        api_server_host_port(endpoint)


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "a" * 64, "sha256:" + "G" * 64])
def test_bad_ca_hash_is_rejected(digest: str) -> None:
    with pytest.raises(ValueError, match="CA certificate hash"):
        KubeadmJoin("https://x:6443", TOKEN, (digest,))


def test_bootstrap_tokens_come_from_the_injected_random_source() -> None:
    token = new_bootstrap_token(random.Random(7))
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", str(token))
    assert new_bootstrap_token(random.Random(7)) == token
    assert new_bootstrap_token(random.Random(8)) != token
    assert BootstrapToken.parse(str(token)) == token


def test_bootstrap_token_repr_hides_the_secret() -> None:
    assert TOKEN.secret not in repr(TOKEN)


@pytest.mark.parametrize("text", ["abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "a.b"])
def test_malformed_bootstrap_token_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="bootstrap token"):
        BootstrapToken.parse(text)


def test_bootstrap_token_secret() -> None:
    secret = bootstrap_token_secret(TOKEN, expires=1_700_000_000.0, labels={"a": "b"})
    assert secret["metadata"] == {
        "name": "bootstrap-token-abcdef",
        "namespace": "kube-system",
        "labels": {"a": "b"},
    }
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["token-id"] == "abcdef"
    assert data["token-secret"] == "0123456789abcdef"
    assert data["expiration"] == "2023-11-14T22:13:20Z"
    assert data["usage-bootstrap-authentication"] == "true"
    assert data["usage-bootstrap-signing"] == "true"
    assert data["auth-extra-groups"] == "system:bootstrappers:kubeadm:default-node-token"


def test_zone_labels_join_the_node_labels() -> None:
    zone = {"topology.kubernetes.io/zone": "zone-b", "topology.kubernetes.io/region": "eu-west"}
    text = kubeadm_join_user_data(
        IDENTITY,
        KubeadmJoin("https://team-a.example:6443", TOKEN, (CA_HASH,)),
        {"pool": "g"},
        (),
        zone,
    )
    (file,) = yaml.safe_load(text)["write_files"]
    labels = parse_node_labels(kubelet_args(yaml.safe_load(file["content"]))["node-labels"])
    assert labels["topology.kubernetes.io/zone"] == "zone-b"
    assert labels["topology.kubernetes.io/region"] == "eu-west"
    assert labels["pool"] == "g"
