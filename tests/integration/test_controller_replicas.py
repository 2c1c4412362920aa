"""Two replicas with a Lease: only the leader acts; a follower takes over within the lease."""

from __future__ import annotations

import time

import pytest
from controller_world import add_pending, eventually, nodepool, put, vms, world

from autoscaler.controller.settings import Settings
from autoscaler.kube.leader import LeaderElectionConfig, LeaderElector
from autoscaler.observability.metrics import Metrics

LEASE = 3.0


async def replica(w, name: str):  # type: ignore[no-untyped-def]
    api = await w.management_client()
    elector_box: list[LeaderElector] = []
    manager = await w.manager(
        metrics=Metrics(), is_leader=lambda: bool(elector_box) and elector_box[0].leading
    )
    elector = LeaderElector(
        api,
        LeaderElectionConfig(
            namespace="kvpool-system",
            name="kubevirt-autoscaler",
            identity=name,
            lease_duration=LEASE,
            renew_deadline=2.0,
            retry_period=0.2,
        ),
        on_started_leading=manager.leadership_changed,
        on_stopped_leading=manager.leadership_changed,
    )
    elector_box.append(elector)
    elector.start()
    w.stack.push_async_callback(elector.stop)
    return manager, elector


async def test_only_the_leader_acts_and_a_follower_takes_over_within_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().lease_duration_seconds > 0
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, "nodepools.autoscaling.kvpool.io", nodepool("general"))
        first = await replica(w, "one")
        second = await replica(w, "two")
        await eventually(lambda: first[1].leading or second[1].leading, message="no leader")
        leader, follower = (first, second) if first[1].leading else (second, first)

        add_pending(tenant, "web-0", cpu="1", memory="1Gi")
        await eventually(lambda: vms(w.management, "team-a-vms"), message="leader did not act")
        following = follower[0].loops["team-a"].loop
        await eventually(lambda: following.sources.synced, message="follower caches cold")
        assert following.decisions == 0
        assert leader[0].loops["team-a"].loop.decisions > 0

        # The leader dies without releasing the Lease: the follower waits for it to expire.
        async def no_release() -> None:
            return None

        monkeypatch.setattr(leader[1], "_release", no_release)
        await leader[0].stop()
        await leader[1].stop()
        lost_at = time.monotonic()
        add_pending(tenant, "web-1", cpu="3", memory="4Gi")
        await eventually(lambda: follower[1].leading, within=2 * LEASE, message="no failover")
        assert time.monotonic() - lost_at <= LEASE + 1.0
        await eventually(lambda: len(vms(w.management, "team-a-vms")) == 2, message="no action")
        assert following.decisions > 0
