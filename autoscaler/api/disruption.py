"""The record of a disruption in progress, kept on the Node it disrupts.

The autoscaler cordons a node it removes with the ``kvpool.io/disrupting`` taint (its value is
the method) and writes this annotation next to it: the method, why, and when the disruption
started. A new leader, or the same process after a restart, reads both back and resumes the
disruption where it stands (its drain deadline counts from the recorded start) instead of
starting over or abandoning it. The annotation is written by the autoscaler, but anyone can
edit a Node: a value that does not parse is ignored and the disruption counts from when it is
seen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from autoscaler.api.timestamps import rfc3339

DISRUPTION_ANNOTATION: Final = "kvpool.io/disruption"
MAX_DETAIL: Final = 512


@dataclass(frozen=True, slots=True)
class DisruptionRecord:
    method: str  # the disruption Reason (Empty, Underutilized, Drifted, ...)
    started: float  # seconds since the epoch
    reason: str = ""  # the decision's detail, for people reading the Node

    def encode(self) -> str:
        return json.dumps(
            {
                "method": self.method,
                "reason": self.reason[:MAX_DETAIL],
                "started": rfc3339(self.started),
            },
            sort_keys=True,
        )


def decode_disruption(value: str) -> DisruptionRecord:
    """The record in an annotation value; ValueError with a precise message if it is not one."""
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ValueError(f"{DISRUPTION_ANNOTATION} is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"{DISRUPTION_ANNOTATION} is not a JSON object")
    method, started, reason = parsed.get("method"), parsed.get("started"), parsed.get("reason")
    if not isinstance(method, str) or not method:
        raise ValueError(f"{DISRUPTION_ANNOTATION} has no method")
    if not isinstance(started, str):
        raise ValueError(f"{DISRUPTION_ANNOTATION} has no start time")
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        raise ValueError(
            f"{DISRUPTION_ANNOTATION} start time {started!r} is not an RFC 3339 time"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"{DISRUPTION_ANNOTATION} start time {started!r} has no time zone")
    return DisruptionRecord(method, when.timestamp(), reason if isinstance(reason, str) else "")
