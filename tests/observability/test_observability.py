from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from autoscaler import __version__
from autoscaler.observability.logging import configure_logging, get_logger, log_context
from autoscaler.observability.metrics import Metrics
from autoscaler.observability.server import (
    LoopMonitor,
    ObservabilityServer,
    Readiness,
    build_app,
)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_have_the_documented_names_and_labels() -> None:
    metrics = Metrics()
    metrics.set_pending_pods("team-a", {"general": 3})
    metrics.set_nodes("team-a", {("general", "ready"): 2, ("general", "launching"): 1})
    metrics.vm_launches.labels("team-a", "general", "PendingPods", "success").inc()
    metrics.vm_deletions.labels("team-a", "general", "Empty", "error").inc()
    metrics.decision_duration.labels("team-a").observe(0.02)
    metrics.scale_up_latency.labels("team-a", "general").observe(95)
    metrics.pod_pending_duration.labels("team-a").observe(100)
    metrics.boot_phase_duration.labels("Provisioning").observe(30)
    metrics.set_connected("team-a", True)
    metrics.api_error("team-a", "watch", "500")
    metrics.set_leader(True)
    got = samples(metrics)
    assert got[("kvpool_pending_pods", (("pool", "general"), ("tenant", "team-a")))] == 3
    key = ("kvpool_nodes", (("pool", "general"), ("state", "ready"), ("tenant", "team-a")))
    assert got[key] == 2
    launch = (
        "kvpool_vm_launches_total",
        (
            ("pool", "general"),
            ("reason", "PendingPods"),
            ("result", "success"),
            ("tenant", "team-a"),
        ),
    )
    assert got[launch] == 1
    assert (
        got[
            ("kvpool_api_errors_total", (("cluster", "team-a"), ("code", "500"), ("verb", "watch")))
        ]
        == 1
    )
    assert got[("kvpool_leader", ())] == 1
    assert got[("kvpool_tenant_connected", (("tenant", "team-a"),))] == 1
    assert got[("kvpool_decision_duration_seconds_count", (("tenant", "team-a"),))] == 1
    assert (
        got[("kvpool_scale_up_latency_seconds_sum", (("pool", "general"), ("tenant", "team-a")))]
        == 95
    )
    assert got[("kvpool_boot_phase_duration_seconds_count", (("phase", "Provisioning"),))] == 1
    assert ("kvpool_pod_pending_duration_seconds_count", (("tenant", "team-a"),)) in got
    build = [k for k in got if k[0] == "kvpool_build_info"]
    assert build and ("version", __version__) in build[0][1]


def test_stale_gauges_are_removed_per_tenant() -> None:
    metrics = Metrics()
    metrics.set_pending_pods("team-a", {"general": 3, "gpu": 1})
    metrics.set_pending_pods("team-b", {"general": 5})
    metrics.set_pending_pods("team-a", {"general": 0})
    pending = {k: v for k, v in samples(metrics).items() if k[0] == "kvpool_pending_pods"}
    assert pending == {
        ("kvpool_pending_pods", (("pool", "general"), ("tenant", "team-a"))): 0,
        ("kvpool_pending_pods", (("pool", "general"), ("tenant", "team-b"))): 5,
    }
    metrics.set_connected("team-a", True)
    metrics.forget_tenant("team-a")
    remaining = samples(metrics)
    assert not any(("tenant", "team-a") in k[1] for k in remaining if k[0].startswith("kvpool_"))


def test_registries_are_isolated() -> None:
    first, second = Metrics(), Metrics()
    first.api_error("c", "get", "404")
    assert not any(k[0] == "kvpool_api_errors_total" for k in samples(second))


async def test_endpoints() -> None:
    metrics = Metrics()
    metrics.set_leader(True)
    readiness = Readiness()
    state = {"synced": False}
    readiness.add("caches", lambda: None if state["synced"] else "2 of 5 informers not synced")
    readiness.add("leader-election", lambda: None)
    monitor = LoopMonitor(interval=0.05, max_lag=5)
    monitor.start()
    client = TestClient(TestServer(build_app(metrics, readiness, monitor)))
    await client.start_server()
    try:
        response = await client.get("/metrics")
        assert response.status == 200
        assert "kvpool_leader 1.0" in await response.text()
        response = await client.get("/healthz")
        assert response.status == 200
        response = await client.get("/readyz")
        assert response.status == 503
        assert "caches: 2 of 5 informers not synced" in await response.text()
        state["synced"] = True
        assert (await client.get("/readyz")).status == 200
        readiness.add("broken", lambda: 1 / 0)  # type: ignore[arg-type,func-returns-value]
        response = await client.get("/readyz")
        assert response.status == 503 and "ZeroDivisionError" in await response.text()
    finally:
        await client.close()
        await monitor.stop()


async def test_healthz_fails_when_the_loop_was_blocked() -> None:
    monitor = LoopMonitor(interval=0.01, max_lag=0.05)
    assert monitor.problem() == "the event loop monitor is not running"
    monitor.start()
    await asyncio.sleep(0.05)
    assert monitor.problem() is None
    monitor.last_beat = time.monotonic() - 1.0  # as if a computation held the loop for 1s
    assert "blocked" in (monitor.problem() or "")
    await monitor.stop()


async def test_server_serves_on_a_real_port() -> None:
    server = ObservabilityServer(Metrics(), host="127.0.0.1", port=0)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.port}/healthz") as response,
        ):
            assert response.status == 200
    finally:
        await server.stop()


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_logs_carry_context(restore_logging: object) -> None:
    stream = io.StringIO()
    configure_logging("info", json=True, stream=stream)
    with log_context(tenant="team-a", pool="general", vm=None):
        get_logger("autoscaler.test").info("vm launched", shape="4cpu-8Gi")
        logging.getLogger("autoscaler.kube.test").warning("watch failed: %s", "500")
    logging.getLogger("autoscaler.kube.test").debug("hidden")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["event"] == "vm launched" and first["shape"] == "4cpu-8Gi"
    assert first["tenant"] == "team-a" and first["pool"] == "general" and "vm" not in first
    assert first["level"] == "info" and first["logger"] == "autoscaler.test"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "watch failed: 500" and second["tenant"] == "team-a"
    assert second["level"] == "warning"


def test_console_logs_and_bad_settings(restore_logging: object) -> None:
    stream = io.StringIO()
    configure_logging("debug", json=False, stream=stream)
    get_logger("x").info("hello", node="worker-1")
    assert "hello" in stream.getvalue() and "worker-1" in stream.getvalue()
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("loud")
    with (
        pytest.raises(ValueError, match="unknown log context keys: colour"),
        log_context(colour="red"),
    ):
        pass
