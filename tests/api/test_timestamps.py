"""RFC 3339 timestamps as Kubernetes writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.timestamps import rfc3339


def test_whole_seconds_in_utc_with_a_z() -> None:
    moment = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC).timestamp()
    assert rfc3339(moment) == "2024-05-01T10:00:05Z"


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=4_000_000_000))
def test_parsing_the_text_gives_the_same_second(seconds: int) -> None:
    assert datetime.fromisoformat(rfc3339(seconds)).timestamp() == seconds
