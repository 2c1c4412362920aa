"""Benchmark (prints figures, asserts nothing): hold and list 50k small pods and 5k nodes.

.venv/bin/python tests/apiserver/bench_apiserver_list.py [pods] [nodes]
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from typing import Any

from kubernetes_asyncio import client, config, watch

from testbed.apiserver import FakeApiServer


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * 4096 / 2**20


def small_pod(index: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"pod-{index:06d}",
            "namespace": f"ns-{index % 50}",
            "labels": {"app": f"app-{index % 100}", "pod-template-hash": "5d8f9c7b6"},
        },
        "spec": {
            "nodeName": f"node-{index % 5000:05d}",
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/app:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def node(index: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"node-{index:05d}", "labels": {"kvpool.io/pool": "general"}},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
    }


async def main(pods: int, nodes: int) -> None:
    async with FakeApiServer(require_namespaces=False, history_size=10_000) as server:
        registry = server.registry
        gc.collect()
        before = rss_mib()
        started = time.perf_counter()
        registry.seed(registry.find("pods"), (small_pod(i) for i in range(pods)))
        registry.seed(registry.find("nodes"), (node(i) for i in range(nodes)))
        seeded = time.perf_counter() - started
        gc.collect()
        held = rss_mib() - before
        print(f"seed {pods} pods + {nodes} nodes in-process: {seeded:.2f}s, RSS +{held:.0f} MiB")

        api = await config.new_client_from_config_dict(server.kubeconfig())
        async with api:
            core = client.CoreV1Api(api)
            started = time.perf_counter()
            response = await core.list_pod_for_all_namespaces(_preload_content=False)
            body = await response.read()
            raw = time.perf_counter() - started
            count = len(json.loads(body)["items"])
            print(f"list {count} pods over HTTP, raw: {raw:.2f}s, {len(body) / 2**20:.1f} MiB")

            started = time.perf_counter()
            typed = await core.list_pod_for_all_namespaces()
            print(
                f"list {len(typed.items)} pods deserialized into V1Pod: "
                f"{time.perf_counter() - started:.2f}s"
            )
            del typed

            started = time.perf_counter()
            token, pages = None, 0
            while True:
                response = await core.list_pod_for_all_namespaces(
                    limit=500, _continue=token, _preload_content=False
                )
                page = json.loads(await response.read())
                pages += 1
                token = page["metadata"].get("continue")
                if not token:
                    break
            print(
                f"list in pages of 500 ({pages} pages), raw: {time.perf_counter() - started:.2f}s"
            )

            started = time.perf_counter()
            response = await core.list_pod_for_all_namespaces(
                label_selector="app=app-7",
                field_selector="spec.nodeName=node-00007",
                _preload_content=False,
            )
            selected = len(json.loads(await response.read())["items"])
            print(
                f"list with label+field selector ({selected} match): "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )

            started = time.perf_counter()
            response = await core.list_node(_preload_content=False)
            node_count = len(json.loads(await response.read())["items"])
            print(f"list {node_count} nodes raw: {(time.perf_counter() - started) * 1000:.0f} ms")

            started = time.perf_counter()
            received = 0
            async with watch.Watch() as stream:
                async for _ in stream.stream(
                    core.list_pod_for_all_namespaces, resource_version="0", timeout_seconds=60
                ):
                    received += 1
                    if received == pods:
                        break
            elapsed = time.perf_counter() - started
            print(f"watch from 0 through the Watch helper: {received} events in {elapsed:.2f}s")

            started = time.perf_counter()
            creates = 1000
            for index in range(creates):
                body = small_pod(pods + index)
                body["status"] = {}
                await core.create_namespaced_pod(
                    body["metadata"]["namespace"], body, _preload_content=False
                )
            elapsed = time.perf_counter() - started
            print(f"create {creates} pods over HTTP: {creates / elapsed:.0f}/s")


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [50_000, 5_000][len(arguments) :])))
