"""Fixtures of the e2e suite that tell whether real clusters are configured.

``real_clusters`` skips a test, saying which variable is unset, when the environment names no
clusters; ``optional_real_clusters`` returns None instead, for tests that then use the fake API
servers. A half or broken configuration fails the test with the reason.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kvpool_e2e import E2EConfigError, RealClusters, real_clusters_from_env, unset_reason


@pytest.fixture(scope="session")
def optional_real_clusters() -> RealClusters | None:
    try:
        return real_clusters_from_env(os.environ)
    except E2EConfigError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def real_clusters(optional_real_clusters: RealClusters | None) -> RealClusters:
    if optional_real_clusters is None:
        pytest.skip(unset_reason(os.environ))
    return optional_real_clusters
