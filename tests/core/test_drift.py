"""Drift (image changed) and expiry (node too old)."""

from __future__ import annotations

from test_autoscaler_world import make_node, make_pool

from autoscaler.core.actions import Reason
from autoscaler.core.drift import drift, expiry, rotation
from autoscaler.core.model import Pool


def test_node_with_another_image_than_its_pool_has_drifted() -> None:
    found = drift(make_node("n1", image_hash="old"), make_pool(image_hash="new"))
    assert found is not None and found.reason is Reason.DRIFTED
    assert "old" in found.detail and "new" in found.detail


def test_same_or_unknown_image_is_not_drift() -> None:
    assert drift(make_node("n1", image_hash="a"), make_pool(image_hash="a")) is None
    assert drift(make_node("n1", image_hash=""), make_pool(image_hash="a")) is None
    assert drift(make_node("n1", image_hash="a"), Pool("general")) is None


def test_node_older_than_expire_after_has_expired() -> None:
    pool = make_pool(expire_after_seconds=3600.0)
    node = make_node("n1", created=100.0)
    assert expiry(node, pool, 100.0 + 3600.0) is None
    found = expiry(node, pool, 100.0 + 3601.0)
    assert found is not None and found.reason is Reason.EXPIRED and "1h0m" in found.detail


def test_pools_without_expiry_never_expire_nodes() -> None:
    assert expiry(make_node("n1"), make_pool(), 10**9) is None


def test_drift_is_reported_before_expiry() -> None:
    pool = make_pool(image_hash="new", expire_after_seconds=10.0)
    found = rotation(make_node("n1", image_hash="old"), pool, 1000.0)
    assert found is not None and found.reason is Reason.DRIFTED
