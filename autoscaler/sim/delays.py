"""Drawing random delays as a scenario describes them."""

from __future__ import annotations

import random

from autoscaler.sim.scenario_fields import Delay


def draw(delay: Delay, rng: random.Random) -> float:
    if delay.distribution == "fixed" or delay.max == delay.min:
        return delay.min
    if delay.distribution == "triangular":
        mode = delay.mode if delay.mode is not None else (delay.min + delay.max) / 2
        return rng.triangular(delay.min, delay.max, mode)
    return rng.uniform(delay.min, delay.max)
