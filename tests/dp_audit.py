"""The statistics of the empirical DP audits (shared/testing.md, case 12), shared by
``tests/queries/test_dp_audit.py`` and ``tests/synth/test_engine_audit.py``.

A mechanism M is (epsilon, delta)-DP when P[M(D) in E] <= e^epsilon P[M(D') in E] + delta for every
event E and both orders of two neighbouring inputs D, D'. So for an event E fixed before sampling,
ln((P[E | one side] - delta) / P[E | other side]) is a lower bound on the epsilon M can claim at
that delta (delta = 0: pure DP). From n samples per side, one-sided Clopper-Pearson limits give
P[E | one side] >= low and P[E | other side] <= high; ln((low - delta) / high) is then a lower bound
that holds, together with all the others, with probability >= 1 - alpha (Bonferroni over the four
one-sided limits of every event). A sound mechanism shows a bound above its claim with probability
at most alpha; each audit also runs a broken variant that must show one, so it cannot pass silently.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

from scipy.stats import beta

SAMPLES = 20_000
ALPHA = 1e-4

Event = Callable[[Any], bool]


def clopper_pearson(hits: int, n: int, alpha: float) -> tuple[float, float]:
    """One-sided Clopper-Pearson bounds, each holding with probability >= 1 - alpha."""
    low = 0.0 if hits == 0 else float(beta.ppf(alpha, hits, n - hits + 1))
    high = 1.0 if hits == n else float(beta.ppf(1 - alpha, hits + 1, n - hits))
    return low, high


def epsilon_lower_bound(
    samples: Sequence[Any],
    neighbour_samples: Sequence[Any],
    events: Sequence[Event],
    alpha: float = ALPHA,
    delta: float = 0.0,
) -> float:
    """The largest ln((P[E | one side] - delta) / P[E | other side]) the samples prove,
    Bonferroni-corrected over the four one-sided bounds of every event; 0 when none is positive."""
    per_bound = alpha / (4 * len(events))
    bound = 0.0
    for event in events:
        side = clopper_pearson(sum(map(event, samples)), len(samples), per_bound)
        other = clopper_pearson(sum(map(event, neighbour_samples)), len(neighbour_samples), per_bound)
        for (low, _), (_, high) in ((side, other), (other, side)):
            if low > delta:
                bound = max(bound, math.log((low - delta) / high))
    return bound


def at_least(threshold: float) -> Event:
    return lambda value: value is not None and value >= threshold


def is_empty(value: Any) -> bool:
    return value is None
