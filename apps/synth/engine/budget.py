"""Budget of a synthesis: (epsilon, delta) → rho, its split, OpenDP's measurements, and what they spent.

Every synthesizer here is a composition of Gaussian measurements and exponential-mechanism
selections, accounted in zero-concentrated DP (Bun & Steinke 2016): rho_i-zCDP steps compose to
(sum rho_i)-zCDP. The analyst asks for (epsilon, delta); the engine runs with the largest rho (a
multiple of 1e-12) whose conversion by OpenDP (``apps.privacy.composition.zcdp_to_epsilon``, the
conversion of Canonne, Kamath & Steinke 2020) is at most epsilon at that delta. The charge is
``PrivacyCost(rho=rho)``: the accountant composes it in rho with the owner's delta limit.

Each step gets a share of rho rounded down (so the shares never add up to more than rho); its noise
scale is nudged up until OpenDP's own privacy map of the measurement, at the input distance the
source guarantees (k = rows per unit), is at most the share. The ``Ledger`` adds up the maps of
the measurements actually invoked (exact rationals); ``spent`` is that sum rounded up to 1e-12, and
a sum above the charge is a bug that stops the run before anything is released.
"""

import math
from decimal import ROUND_FLOOR, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np
import opendp.prelude as dp

from apps.privacy.composition import EPSILON_PLACES, PrivacyCost, round_up, zcdp_to_epsilon
from apps.synth.engine.base import SynthRefused

dp.enable_features("contrib")


class UnsoundNoise(RuntimeError):
    """The measurements would lose more privacy than is charged: a bug, never the user's fault."""


def _positive(name: str, value: Any) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise SynthRefused(f"{name} must be a number.", field=name) from None
    if not number.is_finite() or number <= 0:
        raise SynthRefused(f"{name} must be a positive, finite number.", field=name)
    return number


def check_parameters(epsilon: Any, delta: Any) -> tuple[Decimal, Decimal]:
    eps = _positive("epsilon", epsilon)
    dlt = _positive("delta", delta)
    if dlt >= 1:
        raise SynthRefused("delta must be below 1.", field="delta")
    if eps > 1000:
        raise SynthRefused("epsilon must be at most 1000.", field="epsilon")
    return eps, dlt


@lru_cache(maxsize=1024)
def rho_for(epsilon: Decimal, delta: Decimal) -> Decimal:
    """The largest rho, a multiple of 1e-12, with OpenDP's eps(rho, delta) <= epsilon."""
    epsilon, delta = check_parameters(epsilon, delta)
    low, high = 0, int((epsilon / EPSILON_PLACES).to_integral_value(rounding=ROUND_FLOOR))  # rho <= epsilon
    while high - low > 1:
        middle = (low + high) // 2
        if zcdp_to_epsilon(EPSILON_PLACES * middle, delta) <= epsilon:
            low = middle
        else:
            high = middle
    if zcdp_to_epsilon(EPSILON_PLACES * high, delta) <= epsilon:
        low = high
    if low == 0:
        raise SynthRefused("epsilon is too small for this delta.", field="epsilon")
    return EPSILON_PLACES * low


def split(rho: Decimal, parts: list[tuple[int, float]]) -> list[float]:
    """One share per part (a count of steps and a weight), rounded down: sum(count * share) <= rho."""
    weights = sum(w for _, w in parts)
    shares = []
    for count, weight in parts:
        share = float(rho) * weight / weights / count
        shares.append(share)
    while sum(Fraction(s) * c for s, (c, _) in zip(shares, parts, strict=True)) > Fraction(rho):
        shares = [math.nextafter(s, 0.0) for s in shares]
    return shares


def _fits(loss: float, share: float) -> bool:
    return Fraction(loss) <= Fraction(share)


@lru_cache(maxsize=256)
def gaussian(share: float, d_in: int) -> tuple[Any, float]:
    """OpenDP's discrete Gaussian over an integer count vector, L2 input distance ``d_in``; (measurement, scale)."""
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="f64")
    scale = float(d_in) / math.sqrt(2 * share)
    measurement = dp.m.make_gaussian(*space, scale=scale)
    while not _fits(measurement.map(float(d_in)), share):
        scale = math.nextafter(scale, math.inf)
        measurement = dp.m.make_gaussian(*space, scale=scale)
    return measurement, scale


@lru_cache(maxsize=256)
def noisy_max(share: float, d_in: int) -> tuple[Any, float]:
    """OpenDP's report-noisy-max (Gumbel noise: the exponential mechanism) over float scores whose
    L-infinity input distance is ``d_in`` (not monotonic), accounted in zCDP; (measurement, scale)."""
    space = dp.vector_domain(dp.atom_domain(T="f64", nan=False)), dp.linf_distance(T="f64")
    scale = float(d_in) / math.sqrt(2 * share)
    measurement = dp.m.make_noisy_max(*space, dp.zero_concentrated_divergence(), scale=scale)
    while not _fits(measurement.map(float(d_in)), share):
        scale = math.nextafter(scale, math.inf)
        measurement = dp.m.make_noisy_max(*space, dp.zero_concentrated_divergence(), scale=scale)
    return measurement, scale


class Ledger:
    """The losses of the measurements actually invoked, as exact rationals."""

    def __init__(self, rho: Decimal, d_in: int) -> None:
        self.rho = rho
        self.d_in = int(d_in)
        self.total = Fraction(0)
        self.steps = 0

    def _charge(self, measurement: Any) -> None:
        loss = Fraction(measurement.map(float(self.d_in)))
        if self.total + loss > Fraction(self.rho):
            raise UnsoundNoise("a measurement would exceed the charged rho")
        self.total += loss
        self.steps += 1

    def measure(self, counts: np.ndarray, share: float) -> tuple[np.ndarray, float]:
        """Noisy counts (float array, same shape) from OpenDP's discrete Gaussian; (noisy, scale)."""
        measurement, scale = gaussian(share, self.d_in)
        self._charge(measurement)
        flat = [int(v) for v in np.asarray(counts, dtype=np.int64).ravel()]
        noisy = np.asarray(measurement(flat), dtype=float).reshape(np.shape(counts))
        return noisy, scale

    def select(self, scores: list[float], share: float) -> int:
        measurement, _ = noisy_max(share, self.d_in)
        self._charge(measurement)
        return int(measurement([float(s) for s in scores]))

    @property
    def spent(self) -> PrivacyCost:
        with localcontext() as ctx:
            ctx.prec = 60
            exact = Decimal(self.total.numerator) / Decimal(self.total.denominator)
        return PrivacyCost(rho=round_up(exact))
