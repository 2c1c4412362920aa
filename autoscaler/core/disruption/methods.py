"""The disruption methods, in the order a pass tries them; the first that proposes something
acts, alone, in that pass.

A pool above its max shrinks first (holds do not stop it); then the nodes whose cheaper
replacement is up are drained; then empty nodes go, then drifted or expired ones, then
under-utilised ones whose pods fit elsewhere; last, consolidation launches a cheaper VM for
several under-used nodes. Repair of unhealthy VMs is not a method here: it is part of the VM
lifecycle (:mod:`autoscaler.core.lifecycle`), which runs before scale-up, every pass.
"""

from __future__ import annotations

from typing import Final

from autoscaler.core.disruption.empty import Empty
from autoscaler.core.disruption.method import Method
from autoscaler.core.disruption.overmax import OverMax
from autoscaler.core.disruption.replacement import Consolidate, DrainReplaced
from autoscaler.core.disruption.rotation import Rotate
from autoscaler.core.disruption.underutilised import Underutilised

METHODS: Final[tuple[Method, ...]] = (
    OverMax(),
    DrainReplaced(),
    Empty(),
    Rotate(),
    Underutilised(),
    Consolidate(),
)
