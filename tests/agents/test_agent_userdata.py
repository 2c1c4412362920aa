"""Reading the Node registration out of cloud-init user data."""

from __future__ import annotations

import base64
import re

import pytest
import yaml
from agents_helpers import GPU_TAINT, JOIN

from autoscaler.api.cloudinit import kubeadm_join_user_data
from autoscaler.api.policy import ImageSource, Shape
from autoscaler.api.vmbuilder import VMIdentity
from testbed.agents.userdata import (
    UserDataError,
    parse_node_labels,
    parse_taints,
    registration,
)

IDENTITY = VMIdentity(
    "team-a-general-abc",
    "vms",
    "team-a",
    "general",
    Shape(2000, 4 * 2**30),
    ImageSource("k8s", container_disk="registry.example/worker:v1"),
)


def join_config(node_registration: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "kubeadm.k8s.io/v1beta3",
        "kind": "JoinConfiguration",
        "nodeRegistration": node_registration,
    }


def test_builder_user_data_registers_the_vm_name_with_pool_labels_taints_and_provider_id() -> None:
    text = kubeadm_join_user_data(IDENTITY, JOIN, {"workload": "batch"}, [GPU_TAINT])

    found = registration(text, "ignored")

    assert found.node_name == "team-a-general-abc"
    assert found.labels["workload"] == "batch"
    assert found.labels["kvpool.io/pool"] == "general"
    assert found.labels["kvpool.io/tenant"] == "team-a"
    assert found.taints == ({"key": "gpu", "value": "true", "effect": "NoSchedule"},)
    assert found.provider_id == "kubevirt://team-a-general-abc"


def test_node_registration_name_and_v1beta3_argument_map_and_taint_list_are_read() -> None:
    config = join_config(
        {
            "name": "custom-node",
            "kubeletExtraArgs": {"node-labels": "a=1,b=2"},
            "taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}],
        }
    )
    text = "#cloud-config\n" + yaml.safe_dump(
        {"write_files": [{"path": "/etc/join.yaml", "content": yaml.safe_dump(config)}]}
    )

    found = registration(text, "vm-1")

    assert found.node_name == "custom-node"
    assert found.labels == {"a": "1", "b": "2"}
    assert found.taints == ({"key": "dedicated", "value": "db", "effect": "NoExecute"},)
    assert found.provider_id is None


def test_base64_encoded_files_are_decoded() -> None:
    content = base64.b64encode(yaml.safe_dump(join_config({"name": "from-b64"})).encode())
    text = yaml.safe_dump({"write_files": [{"content": content.decode(), "encoding": "b64"}]})

    assert registration(text, "vm-1").node_name == "from-b64"


def test_user_data_without_join_configuration_registers_the_vm_name() -> None:
    found = registration("#cloud-config\nruncmd: [[echo, hi]]\n", "vm-1")

    assert (found.node_name, dict(found.labels), found.taints) == ("vm-1", {}, ())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write_files: [\n", "not valid YAML"),
        ("write_files: {a: 1}", "write_files must be a list"),
        (
            yaml.safe_dump(join_config({"name": "Not_A_Node"})),
            "nodeRegistration.name 'Not_A_Node'",
        ),
        (
            yaml.safe_dump(
                join_config({"kubeletExtraArgs": [{"name": "node-labels", "value": "x"}]})
            ),
            "node-labels: 'x' is not key=value",
        ),
        (
            yaml.safe_dump(join_config({"taints": [{"key": "a", "effect": "Sometimes"}]})),
            "effect 'Sometimes'",
        ),
        (
            yaml.safe_dump({"write_files": [{"content": "JoinConfiguration!", "encoding": "b64"}]}),
            "is not base64",
        ),
    ],
)
def test_unusable_user_data_is_an_error_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(UserDataError, match=re.escape(expected)):
        registration(text, "vm-1")


def test_kubelet_flag_syntax() -> None:
    assert parse_node_labels(" a=1 , kvpool.io/pool=general,") == {
        "a": "1",
        "kvpool.io/pool": "general",
    }
    assert parse_taints("a=b:NoSchedule,c:PreferNoSchedule") == (
        {"key": "a", "value": "b", "effect": "NoSchedule"},
        {"key": "c", "effect": "PreferNoSchedule"},
    )
    with pytest.raises(UserDataError, match="has no :Effect"):
        parse_taints("a=b")
    with pytest.raises(UserDataError, match="'bad key'"):
        parse_node_labels("bad key=1")
