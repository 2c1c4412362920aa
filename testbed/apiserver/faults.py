"""Programmable faults, switched on and off at runtime by tests.

A fault matches requests by verb (``get``, ``list``, ``watch``, ``create``, ``update``,
``patch``, ``delete``, ``deletecollection``), by resource (``pods``, ``pods/eviction``,
``virtualmachines`` or ``virtualmachines.kubevirt.io``) and by a regular expression searched in
the URL path, and by the port of the listener the request arrived on (a server can listen on
several ports, so that one client's traffic is faulted and another's is not); an unset criterion
matches everything. ``times`` bounds how often it fires (None: until removed) and
``probability`` makes it fire on a seeded random share of the matching requests.

Besides errors and latency a fault can reset the connection, hold a request without ever
answering (a blackholed network, or a watch whose response never starts), end watch streams, or
silence open watch streams (no event, no bookmark) for as long as it is in place.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from testbed.apiserver.errors import ApiError

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
    reset: bool = False  # close the connection with a TCP reset instead of answering
    hang: bool = False  # never answer: hold the request until the client gives up
    # With ``hang``: set when the fault is removed, and held requests are then served late,
    # as after a network outage ends; None: held requests stay held.
    release: asyncio.Event | None = None
    silence: bool = False  # open watch streams send nothing while the fault is in place
    port: int | None = None  # only requests that arrived on this listener port
    probability: float = 1.0  # share of the matching requests it applies to
    times: int | None = None  # how many more requests it applies to; None: every request
    hits: int = 0  # how many requests it has applied to

    @property
    def is_error(self) -> bool:
        return self.status is not None or self.reset

    def matches(self, verb: str, resources: tuple[str, ...], path: str, port: int = 0) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.verb is not None and self.verb != verb:
            return False
        if self.resource is not None and self.resource not in resources:
            return False
        if (self.drop_after is not None or self.expire or self.silence) and verb != "watch":
            return False
        if self.port is not None and self.port != port:
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
    reset: bool = False
    hang: bool = False
    release: asyncio.Event | None = None  # set: a held request goes on


# What an error-rate fault answers with: a status code, or a connection reset.
RESET: str = "reset"
ErrorKind = int | str


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self.faults: list[Fault] = []
        self.random = random.Random(seed)

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
        port: int | None = None,
        retry_after: float | None = None,
        message: str = "",
    ) -> Fault:
        """Answer matching requests with an error status (500, 503, 429, ...)."""
        return self.add(
            Fault(
                verb=verb,
                resource=resource,
                path=re.compile(path) if path else None,
                port=port,
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
        port: int | None = None,
    ) -> Fault:
        """429 TooManyRequests with a Retry-After header, as API priority and fairness does."""
        return self.fail(
            status=429,
            retry_after=retry_after,
            times=times,
            verb=verb,
            resource=resource,
            path=path,
            port=port,
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
        port: int | None = None,
    ) -> Fault:
        return self.add(
            Fault(
                verb=verb,
                resource=resource,
                path=re.compile(path) if path else None,
                port=port,
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
        port: int | None = None,
    ) -> Fault:
        """End matching watch streams after ``after_events`` events (0: right away)."""
        return self.add(
            Fault(
                verb="watch",
                resource=resource,
                path=re.compile(path) if path else None,
                port=port,
                drop_after=after_events,
                times=times,
            )
        )

    def expire_watches(
        self,
        *,
        times: int | None = 1,
        resource: str | None = None,
        path: str | None = None,
        port: int | None = None,
    ) -> Fault:
        """Answer the next matching watches with 410 Expired, as after an etcd compaction."""
        return self.add(
            Fault(
                verb="watch",
                resource=resource,
                path=re.compile(path) if path else None,
                port=port,
                expire=True,
                times=times,
            )
        )

    def hang(
        self,
        *,
        verb: str | None = None,
        resource: str | None = None,
        path: str | None = None,
        port: int | None = None,
        until_removed: bool = False,
    ) -> Fault:
        """Never answer matching requests (for a watch: the response never starts), or with
        ``until_removed`` hold them until the fault is removed and serve them then."""
        return self.add(
            Fault(
                verb=verb,
                resource=resource,
                path=re.compile(path) if path else None,
                port=port,
                hang=True,
                release=asyncio.Event() if until_removed else None,
            )
        )

    def silence_watches(
        self, *, resource: str | None = None, path: str | None = None, port: int | None = None
    ) -> Fault:
        """Matching watch streams, open or new, go quiet (no event, no bookmark) until removed."""
        return self.add(
            Fault(
                verb="watch",
                resource=resource,
                path=re.compile(path) if path else None,
                port=port,
                silence=True,
            )
        )

    def blackhole(self, *, port: int | None = None) -> list[Fault]:
        """Every request hangs and every open watch goes quiet, as when the network drops
        packets; removing the faults brings the server back, held requests included."""
        return [self.hang(port=port, until_removed=True), self.silence_watches(port=port)]

    def error_rate(
        self,
        rate: float,
        *,
        kinds: Sequence[ErrorKind] = (500, 429, RESET),
        verb: str | None = None,
        resource: str | None = None,
        port: int | None = None,
        retry_after: float = 1.0,
    ) -> list[Fault]:
        """Fail ``rate`` of the matching requests, shared equally among ``kinds`` (status codes,
        429 with a Retry-After, or ``RESET`` for a connection reset)."""
        if not 0 <= rate <= 1:
            raise ValueError(f"error rate must be between 0 and 1, not {rate!r}")
        share = rate / len(kinds)
        added: list[Fault] = []
        for index, kind in enumerate(kinds):
            # Faults are tried in order and a request gets one error at most, so each later
            # kind fires with the probability that leaves every kind an equal share overall.
            left = 1 - share * index
            fault = Fault(
                verb=verb,
                resource=resource,
                port=port,
                probability=min(1.0, share / left) if left > 0 else 1.0,
            )
            if kind == RESET:
                fault.reset = True
            else:
                fault.status = int(kind)
                if fault.status == 429:
                    fault.retry_after = retry_after
            added.append(self.add(fault))
        return added

    def remove(self, fault: Fault) -> None:
        if fault in self.faults:
            self.faults.remove(fault)
        if fault.release is not None:
            fault.release.set()

    def remove_all(self, faults: Sequence[Fault]) -> None:
        for fault in faults:
            self.remove(fault)

    def clear(self) -> None:
        for fault in list(self.faults):
            self.remove(fault)

    def silenced(self, resources: tuple[str, ...], path: str, port: int = 0) -> bool:
        """Whether a watch stream on ``path`` must stay quiet now."""
        return any(
            fault.silence and fault.matches("watch", resources, path, port) for fault in self.faults
        )

    def plan(self, verb: str, resources: tuple[str, ...], path: str, port: int = 0) -> FaultPlan:
        """Consume the faults that match this request and say what they do to it."""
        plan = FaultPlan()
        for fault in list(self.faults):
            if fault.silence or not fault.matches(verb, resources, path, port):
                continue
            if fault.is_error and (plan.error is not None or plan.reset):
                continue  # one error per request; a later error fault waits for the next one
            if fault.probability < 1 and self.random.random() >= fault.probability:
                continue
            fault.consume()
            plan.latency += fault.latency
            if fault.hang and not plan.hang:
                plan.hang, plan.release = True, fault.release
            plan.reset = plan.reset or fault.reset
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
