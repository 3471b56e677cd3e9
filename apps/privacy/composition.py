"""Privacy amounts and how they compose. Pure functions; no database.

Theorems relied on (cited in the accountant's docstring as well):

- Basic composition for approximate DP (Dwork & Roth 2014, Thm 3.16): releases that are
  (eps_i, delta_i)-DP are together (sum eps_i, sum delta_i)-DP, whatever the adaptivity.
- Composition of zero-concentrated DP (Bun & Steinke 2016, Lemma 2.3): rho_i-zCDP releases are
  together (sum rho_i)-zCDP.
- zCDP to approximate DP (Canonne, Kamath & Steinke 2020, Prop. 12 / Cor. 13; the conversion
  OpenDP's ``make_zCDP_to_approxDP`` implements): rho-zCDP implies (eps(rho, delta), delta)-DP for
  every delta in (0, 1]. We ask OpenDP for eps(rho, delta) instead of re-implementing it.
- Mixing both: a rho-zCDP release composed with an (eps_a, delta_a)-DP one is
  (eps(rho, delta_r) + eps_a, delta_r + delta_a)-DP for any delta_r > 0, by converting the zCDP part
  first and then applying basic composition. The accountant takes delta_r = delta_limit - delta_a,
  all the delta the owner allowed that the approximate-DP releases have not used.

All amounts are ``Decimal`` quantized *up* (towards +infinity) so rounding never under-charges.
"""

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache

import opendp.prelude as dp

EPSILON_PLACES = Decimal("1e-12")
DELTA_PLACES = Decimal("1e-18")
INFINITE = Decimal("Infinity")
ZERO = Decimal(0)

dp.enable_features("contrib")


def round_up(value: Decimal | float, places: Decimal = EPSILON_PLACES) -> Decimal:
    """Quantize up. A float is first taken at its exact binary value, so nothing is lost."""
    exact = value if isinstance(value, Decimal) else Decimal(value)
    if not exact.is_finite():
        return INFINITE
    return exact.quantize(places, rounding=ROUND_CEILING)


@dataclass(frozen=True)
class PrivacyCost:
    """What one release costs, in the form its mechanism proves: epsilon/delta, or rho (zCDP)."""

    epsilon: Decimal = ZERO
    delta: Decimal = ZERO
    rho: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("epsilon", "delta", "rho"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative Decimal")
        if self.delta >= 1:
            raise ValueError("delta must be below 1")

    def __add__(self, other: "PrivacyCost") -> "PrivacyCost":
        return PrivacyCost(self.epsilon + other.epsilon, self.delta + other.delta, self.rho + other.rho)

    def __sub__(self, other: "PrivacyCost") -> "PrivacyCost":
        return PrivacyCost(self.epsilon - other.epsilon, self.delta - other.delta, self.rho - other.rho)

    @property
    def is_zero(self) -> bool:
        return not (self.epsilon or self.delta or self.rho)


@lru_cache(maxsize=4096)
def _zcdp_epsilon(rho: Decimal, delta: Decimal) -> float:
    # A Gaussian measurement of scale 1 on a sensitivity-d_in query is exactly (d_in^2 / 2)-zCDP;
    # d_in is nudged up until OpenDP's own (conservatively rounded) map reaches rho.
    space = dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float)
    gaussian = space >> dp.m.then_gaussian(scale=1.0)
    d_in = math.sqrt(2 * float(rho))
    while gaussian.map(d_in) < float(rho):
        d_in = math.nextafter(d_in, math.inf)
    return dp.c.make_zCDP_to_approxDP(gaussian).map(d_in).epsilon(float(delta))


def zcdp_to_epsilon(rho: Decimal, delta: Decimal) -> Decimal:
    """The epsilon at ``delta`` that rho-zCDP implies, by OpenDP's conversion, rounded up."""
    if rho == 0:
        return ZERO
    if delta <= 0:
        return INFINITE
    return round_up(_zcdp_epsilon(rho, min(delta, Decimal(1))))


def composed_epsilon(total: PrivacyCost, delta_limit: Decimal) -> Decimal:
    """The epsilon of everything in ``total`` at the delta the limit allows (see module docstring)."""
    if total.rho == 0:
        return total.epsilon
    return total.epsilon + zcdp_to_epsilon(total.rho, delta_limit - total.delta)


def release_epsilon(cost: PrivacyCost, delta_limit: Decimal) -> Decimal:
    """The epsilon of one release, to compare with a per-release cap."""
    return composed_epsilon(cost, delta_limit)
