"""Fixtures of the e2e suite: the real clusters the environment names, and the world to test in.

``real_clusters`` skips a test, saying which variable is unset, when the environment names no
clusters; ``optional_real_clusters`` returns None instead. ``world`` is parametrized by variant:
``fake-servers`` always runs (self-started fake API servers and agents), ``real-clusters`` runs
as soon as either variable is set, so a half or broken configuration fails with the reason
instead of passing quietly on the fake servers alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kvpool_e2e import (
    MANAGEMENT_VARIABLE,
    TENANT_VARIABLE,
    E2EConfigError,
    RealClusters,
    real_clusters_from_env,
    unset_reason,
)
from kvpool_e2e_worlds import FAKE_SERVERS, REAL_CLUSTERS, World, fake_world, real_world


def e2e_variants() -> list[str]:
    configured = any(os.environ.get(name) for name in (MANAGEMENT_VARIABLE, TENANT_VARIABLE))
    return [FAKE_SERVERS, REAL_CLUSTERS] if configured else [FAKE_SERVERS]


def pytest_report_header(config: pytest.Config) -> str:
    variants = e2e_variants()
    if REAL_CLUSTERS in variants:
        return f"kvpool e2e variants: {', '.join(variants)}"
    return f"kvpool e2e variants: {FAKE_SERVERS} only ({unset_reason(os.environ)})"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "e2e_variant" in metafunc.fixturenames:
        metafunc.parametrize("e2e_variant", e2e_variants())


@pytest.fixture(scope="session")
def optional_real_clusters() -> RealClusters | None:
    try:
        return real_clusters_from_env(os.environ)
    except E2EConfigError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def real_clusters(optional_real_clusters: RealClusters | None) -> RealClusters:
    if optional_real_clusters is None:
        pytest.skip(unset_reason(os.environ))
    return optional_real_clusters


@pytest.fixture
async def world(
    e2e_variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[World]:
    print(f"e2e variant: {e2e_variant}")
    if e2e_variant == REAL_CLUSTERS:
        clusters: RealClusters = request.getfixturevalue("real_clusters")
        async with real_world(clusters) as real:
            yield real
    else:
        async with fake_world(tmp_path) as fake:
            yield fake
