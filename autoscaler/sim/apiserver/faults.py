"""Programmable faults, switched on and off at runtime by tests.

A fault matches requests by verb (``get``, ``list``, ``watch``, ``create``, ``update``,
``patch``, ``delete``, ``deletecollection``), by resource (``pods``, ``pods/eviction``,
``virtualmachines`` or ``virtualmachines.kubevirt.io``) and by a regular expression searched in
the URL path; an unset criterion matches everything. ``times`` bounds how often it fires
(None: until removed).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from autoscaler.sim.apiserver.errors import ApiError

_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class Fault:
    verb: str | None = None
    resource: str | None = None
    path: re.Pattern[str] | None = None
    status: int | None = None  # answer with this error instead of serving
    retry_after: float | None = None  # Retry-After header (seconds) with the error
    message: str = ""
    latency: float = 0.0  # seconds added before serving
    drop_after: int | None = None  # end watch streams after this many events (0: at once)
    expire: bool = False  # answer watches with 410 Expired
    times: int | None = None  # how many more requests it applies to; None: every request
    hits: int = 0  # how many requests it has applied to

    def matches(self, verb: str, resources: tuple[str, ...], path: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.verb is not None and self.verb != verb:
            return False
        if self.resource is not None and self.resource not in resources:
            return False
        if (self.drop_after is not None or self.expire) and verb != "watch":
            return False
        return self.path is None or self.path.search(path) is not None

    def consume(self) -> None:
        self.hits += 1
        if self.times is not None:
            self.times -= 1

    def error(self) -> ApiError:
        code = self.status or 500
        message = self.message or f"injected fault: {code}"
        headers: dict[str, str] = {}
        details: dict[str, object] = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(self.retry_after))
            details["retryAfterSeconds"] = math.ceil(self.retry_after)
        return ApiError(
            code, _REASONS.get(code, "InternalError"), message, details=details, headers=headers
        )


@dataclass
class FaultPlan:
    """What the faults do to one request."""

    latency: float = 0.0
    error: ApiError | None = None
    drop_after: int | None = None
    expire: bool = False


class FaultInjector:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def fail(
        self,
        *,
        status: int = 500,
        times: int | None = 1,
        verb: str | None = None,
        resource: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
        message: str = "",
    ) -> Fault:
        """Answer matching requests with an error status (500, 503, 429, ...)."""
        return self.add(
            Fault(
                verb=verb,
                resource=resource,
                path=re.compile(path) if path else None,
                status=status,
                retry_after=retry_after,
                message=message,
                times=times,
            )
        )

    def throttle(
        self,
        *,
        retry_after: float = 1.0,
        times: int | None = 1,
        verb: str | None = None,
        resource: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """429 TooManyRequests with a Retry-After header, as API priority and fairness does."""
        return self.fail(
            status=429,
            retry_after=retry_after,
            times=times,
            verb=verb,
            resource=resource,
            path=path,
            message="Too many requests, please try again later.",
        )

    def delay(
        self,
        seconds: float,
        *,
        times: int | None = None,
        verb: str | None = None,
        resource: str | None = None,
        path: str | None = None,
    ) -> Fault:
        return self.add(
            Fault(
                verb=verb,
                resource=resource,
                path=re.compile(path) if path else None,
                latency=seconds,
                times=times,
            )
        )

    def drop_watches(
        self,
        *,
        after_events: int = 0,
        times: int | None = None,
        resource: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """End matching watch streams after ``after_events`` events (0: right away)."""
        return self.add(
            Fault(
                verb="watch",
                resource=resource,
                path=re.compile(path) if path else None,
                drop_after=after_events,
                times=times,
            )
        )

    def expire_watches(
        self, *, times: int | None = 1, resource: str | None = None, path: str | None = None
    ) -> Fault:
        """Answer the next matching watches with 410 Expired, as after an etcd compaction."""
        return self.add(
            Fault(
                verb="watch",
                resource=resource,
                path=re.compile(path) if path else None,
                expire=True,
                times=times,
            )
        )

    def remove(self, fault: Fault) -> None:
        if fault in self.faults:
            self.faults.remove(fault)

    def clear(self) -> None:
        self.faults.clear()

    def plan(self, verb: str, resources: tuple[str, ...], path: str) -> FaultPlan:
        """Consume the faults that match this request and say what they do to it."""
        plan = FaultPlan()
        for fault in list(self.faults):
            if not fault.matches(verb, resources, path):
                continue
            if fault.status is not None and plan.error is not None:
                continue  # one error per request; a later error fault waits for the next one
            fault.consume()
            plan.latency += fault.latency
            if fault.status is not None:
                plan.error = fault.error()
            if fault.drop_after is not None:
                plan.drop_after = (
                    fault.drop_after
                    if plan.drop_after is None
                    else min(plan.drop_after, fault.drop_after)
                )
            plan.expire = plan.expire or fault.expire
        self.faults = [fault for fault in self.faults if fault.times is None or fault.times > 0]
        return plan
