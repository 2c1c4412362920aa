"""Pure parts of the Kubernetes shell: error classes, backoff, kubeconfig checks, patches."""

from __future__ import annotations

import base64
import random
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio.client.exceptions import ApiException

from autoscaler.api.disruption import DISRUPTION_ANNOTATION, DisruptionRecord, decode_disruption
from autoscaler.core.config import DISRUPTING_TAINT_KEY
from autoscaler.kube import errors
from autoscaler.kube.backoff import RetryBackoff
from autoscaler.kube.clients import KubeconfigError, parse_kubeconfig
from autoscaler.kube.drain import cordon_patch, is_cordoned, must_evict
from autoscaler.kube.status import Condition, merge_conditions
from autoscaler.rawjson import api_exception


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (ApiException(status=404, reason="Not Found"), errors.ErrorKind.NOT_FOUND, "404"),
        (ApiException(status=409, reason="Conflict"), errors.ErrorKind.CONFLICT, "409"),
        (ApiException(status=410, reason="Gone"), errors.ErrorKind.GONE, "410"),
        (ApiException(status=429, reason="Too Many"), errors.ErrorKind.TOO_MANY_REQUESTS, "429"),
        (ApiException(status=503, reason="Unavailable"), errors.ErrorKind.UNAVAILABLE, "503"),
        (ApiException(status=500, reason="Internal"), errors.ErrorKind.UNAVAILABLE, "500"),
        (ApiException(status=403, reason="Forbidden"), errors.ErrorKind.UNAUTHORIZED, "403"),
        (ApiException(status=422, reason="Invalid"), errors.ErrorKind.INVALID, "422"),
        (ApiException(status=418, reason="Teapot"), errors.ErrorKind.OTHER, "418"),
        (aiohttp.ClientConnectionError("refused"), errors.ErrorKind.UNAVAILABLE, "connection"),
        (aiohttp.ServerDisconnectedError(), errors.ErrorKind.UNAVAILABLE, "connection"),
        (TimeoutError(), errors.ErrorKind.UNAVAILABLE, "timeout"),
        (aiohttp.ServerTimeoutError(), errors.ErrorKind.UNAVAILABLE, "timeout"),
        (ValueError("bug"), errors.ErrorKind.OTHER, "other"),
    ],
)
def test_classify(exc: BaseException, kind: errors.ErrorKind, code: str) -> None:
    assert errors.classify(exc) is kind
    assert errors.code_label(exc) == code
    assert errors.is_api_error(exc) == (not isinstance(exc, ValueError))


def test_retryable_and_messages() -> None:
    assert errors.is_retryable(ApiException(status=429))
    assert errors.is_retryable(aiohttp.ClientConnectionError())
    assert not errors.is_retryable(ApiException(status=404))
    status = api_exception(409, "Conflict", b'{"kind":"Status","message":"the object changed"}')
    assert errors.status_message(status) == "the object changed"
    assert errors.status_message(api_exception(500, "Oops", b"not json")) == "not json"
    assert errors.status_message(ApiException(status=502, reason="Bad")) == "HTTP 502: Bad"


def test_error_hooks_get_cluster_verb_code_and_can_be_removed() -> None:
    seen: list[tuple[str, str, str]] = []

    def broken(*_: str) -> None:
        raise RuntimeError("hook bug")

    remove_broken = errors.add_api_error_hook(broken)
    remove = errors.add_api_error_hook(lambda *labels: seen.append(labels))
    kind = errors.report_api_error("tenant-a", "list", ApiException(status=503))
    remove()
    remove_broken()
    errors.report_api_error("tenant-a", "list", ApiException(status=503))
    assert kind is errors.ErrorKind.UNAVAILABLE
    assert seen == [("tenant-a", "list", "503")]


def test_backoff_grows_is_capped_jittered_and_resets() -> None:
    backoff = RetryBackoff(0.5, 4.0, random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    for attempt, delay in enumerate(delays):
        ceiling = min(4.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays[4:])) > 1  # capped but still jittered
    backoff.reset()
    assert backoff.next() <= 0.5
    with pytest.raises(ValueError):
        RetryBackoff(0, 1)


def kubeconfig(**user: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": "https://tenant.example:6443",
                    "certificate-authority-data": base64.b64encode(b"ca").decode(),
                },
            }
        ],
        "users": [{"name": "u", "user": user or {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def test_self_contained_kubeconfig_is_accepted() -> None:
    parsed = parse_kubeconfig(yaml.safe_dump(kubeconfig()), "Secret a/b")
    assert parsed["current-context"] == "ctx"
    single = kubeconfig()
    del single["current-context"]
    assert parse_kubeconfig(yaml.safe_dump(single), "s")["current-context"] == "ctx"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("clusters: [", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("current-context: x\ncontexts: []\n", "not in contexts"),
        ("contexts: {a: 1}\n", "contexts must be a list"),
        ("contexts: [{name: a}]\n", r"contexts\[0\] needs a name and a context"),
    ],
)
def test_malformed_kubeconfig_text(text: str, problem: str) -> None:
    with pytest.raises(KubeconfigError, match=problem) as info:
        parse_kubeconfig(text, "Secret kvpool-system/team-a")
    assert "Secret kvpool-system/team-a" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda k: k["users"][0]["user"].update(exec={"command": "sh"}), "user.exec"),
        (
            lambda k: k["users"][0]["user"].update({"auth-provider": {"name": "gcp"}}),
            "auth-provider",
        ),
        (lambda k: k["users"][0]["user"].update({"client-key": "/etc/key"}), "user.client-key"),
        (lambda k: k["users"][0]["user"].update(tokenFile="/var/token"), "user.tokenFile"),
        (
            lambda k: k["clusters"][0]["cluster"].update({"certificate-authority": "/ca"}),
            "local file",
        ),
        (lambda k: k["clusters"][0]["cluster"].update(server="ftp://x"), "no http"),
        (
            lambda k: k["clusters"][0]["cluster"].update({"certificate-authority-data": "%%"}),
            "base64",
        ),
        (lambda k: k["contexts"][0]["context"].update(cluster="other"), "unknown cluster"),
        (lambda k: k["contexts"][0]["context"].update(user="other"), "unknown user"),
    ],
)
def test_kubeconfig_from_a_secret_must_not_reach_outside(mutate: Any, problem: str) -> None:
    config = kubeconfig()
    mutate(config)
    with pytest.raises(KubeconfigError, match=problem):
        parse_kubeconfig(yaml.safe_dump(config), "s")


def test_cordon_patch_keeps_other_taints_and_is_idempotent() -> None:
    node: dict[str, Any] = {
        "metadata": {"name": "n", "resourceVersion": "7"},
        "spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
    }
    record = DisruptionRecord("Empty", 1_700_000_000.0, "node runs no workload pods")
    patch = cordon_patch(node, record)
    assert patch is not None
    assert patch["metadata"] == {
        "resourceVersion": "7",
        "annotations": {DISRUPTION_ANNOTATION: record.encode()},
    }
    assert patch["spec"]["unschedulable"] is True
    assert [t["key"] for t in patch["spec"]["taints"]] == ["dedicated", DISRUPTING_TAINT_KEY]
    node["spec"].update(patch["spec"])
    node["metadata"]["annotations"] = patch["metadata"]["annotations"]
    assert cordon_patch(node, record) is None
    # A disruption being resumed keeps its method and record.
    assert cordon_patch(node, DisruptionRecord("Drifted", 1_800_000_000.0)) is None
    undo = cordon_patch(node, None)
    assert undo is not None
    assert undo["spec"] == {
        "unschedulable": None,
        "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
    }
    assert undo["metadata"]["annotations"] == {DISRUPTION_ANNOTATION: None}
    assert cordon_patch({"metadata": {}, "spec": {}}, None) is None


def test_a_half_undone_cordon_is_completed() -> None:
    node: dict[str, Any] = {
        "metadata": {"name": "n", "annotations": {DISRUPTION_ANNOTATION: "{}"}},
        "spec": {
            "taints": [{"key": DISRUPTING_TAINT_KEY, "value": "Empty", "effect": "NoSchedule"}]
        },
    }
    assert not is_cordoned(node)
    patch = cordon_patch(node, DisruptionRecord("Underutilized", 0.0))
    assert patch is not None and patch["spec"]["unschedulable"] is True
    assert patch["spec"]["taints"][0]["value"] == "Empty"
    assert "annotations" not in patch["metadata"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not json", "is not JSON"),
        ("[]", "not a JSON object"),
        ('{"started": "2024-01-01T00:00:00Z"}', "has no method"),
        ('{"method": "Empty"}', "has no start time"),
        ('{"method": "Empty", "started": "yesterday"}', "is not an RFC 3339 time"),
        ('{"method": "Empty", "started": "2024-01-01T00:00:00"}', "has no time zone"),
    ],
)
def test_a_disruption_record_that_does_not_parse_says_why(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        decode_disruption(value)


def test_a_disruption_record_round_trips() -> None:
    record = DisruptionRecord("Drifted", 1_700_000_000.0, "image changed")
    assert decode_disruption(record.encode()) == record


def test_which_pods_a_drain_evicts() -> None:
    def pod(**meta: Any) -> dict[str, Any]:
        phase = meta.pop("phase", "Running")
        return {"metadata": {"name": "p", "namespace": "d", **meta}, "status": {"phase": phase}}

    daemon = [{"kind": "DaemonSet", "name": "ds", "controller": True}]
    replica = [{"kind": "ReplicaSet", "name": "rs", "controller": True}]
    assert must_evict(pod(ownerReferences=replica))
    assert must_evict(pod())
    assert not must_evict(pod(ownerReferences=daemon))
    assert not must_evict(pod(annotations={"kubernetes.io/config.mirror": "x"}))
    assert not must_evict(pod(phase="Succeeded"))
    assert not must_evict(pod(phase="Failed"))


def test_conditions_keep_transition_time_unless_status_changes() -> None:
    existing = [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ok",
            "message": "",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        },
        {
            "type": "Other",
            "status": "False",
            "reason": "Kept",
            "message": "",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        },
    ]
    same = merge_conditions(
        existing, [Condition("Ready", True, "StillOk", "m")], now=1e9, generation=4
    )
    assert same[0]["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    assert same[0]["reason"] == "StillOk" and same[0]["observedGeneration"] == 4
    assert same[1] == existing[1]
    changed = merge_conditions(existing, [Condition("Ready", None, "Lost")], now=1e9)
    assert changed[0]["status"] == "Unknown"
    assert changed[0]["lastTransitionTime"] == "2001-09-09T01:46:40Z"
    added = merge_conditions([], [Condition("Degraded", False, "Fine")], now=0)
    assert added == [
        {
            "type": "Degraded",
            "status": "False",
            "reason": "Fine",
            "message": "",
            "lastTransitionTime": "1970-01-01T00:00:00Z",
        }
    ]
    with pytest.raises(ValueError, match="CamelCase"):
        Condition("Ready", True, "not a reason")
