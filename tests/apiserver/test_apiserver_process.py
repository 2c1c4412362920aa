"""The server as its own process, as e2e tests start it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from apiserver_helpers import widget_crd
from kubernetes_asyncio import client, config

from testbed.kubeconfig import kubeconfig_dict, write_kubeconfig


async def test_the_module_runs_a_server_and_writes_a_kubeconfig(tmp_path: Path) -> None:
    crd_file = tmp_path / "widgets.json"
    crd_file.write_text(json.dumps(widget_crd()))
    kubeconfig = tmp_path / "kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testbed.apiserver",
        "--crd",
        str(tmp_path),
        "--token",
        "t0ken",
        "--kubeconfig",
        str(kubeconfig),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        assert kubeconfig.stat().st_mode & 0o077 == 0
        api = await config.new_client_from_config(config_file=str(kubeconfig))
        async with api:
            custom = client.CustomObjectsApi(api)
            body = {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"size": 1},
            }
            await custom.create_namespaced_custom_object(
                "example.com", "v1", "default", "widgets", body
            )
            listed = await custom.list_namespaced_custom_object(
                "example.com", "v1", "default", "widgets"
            )
            assert [item["metadata"]["name"] for item in listed["items"]] == ["w"]
    finally:
        process.terminate()
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


async def test_a_bad_crd_file_fails_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: ConfigMap\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testbed.apiserver",
        "--crd",
        str(bad),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert "holds no CustomResourceDefinition" in stderr.decode()


def test_kubeconfig_dict_and_file(tmp_path: Path) -> None:
    document = kubeconfig_dict("http://127.0.0.1:1234", token="abc", namespace="ns")
    assert document["current-context"] == "fake"
    assert document["users"][0]["user"] == {"token": "abc"}
    assert document["contexts"][0]["context"]["namespace"] == "ns"
    path = write_kubeconfig(tmp_path / "sub" / "config", "http://127.0.0.1:1234")
    assert "http://127.0.0.1:1234" in path.read_text()
