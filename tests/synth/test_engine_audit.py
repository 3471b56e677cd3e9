"""An empirical DP audit of the synthetic-data engine's Gaussian measurement (shared/testing.md, case 12).

Every synthesizer measures noisy marginal counts with OpenDP's discrete Gaussian through
``Ledger.measure`` (engine/budget.py), accounted in zCDP. Audited here: one 1-way marginal
measurement, on two neighbouring count vectors: D, and D' = D plus one privacy unit adding
``max_rows_per_unit`` = k rows to one cell (the worst case: L2 distance k, the ``d_in`` the ledger is
built with). The analyst asks for (epsilon, delta); a one-column MST gives its whole rho (``rho_for``)
to this measurement, so the measurement must be (epsilon, delta)-DP.

The 20,000 releases of one side are one measurement of the marginal tiled 20,000 times (one OpenDP
call; the noise is independent per coordinate, so each copy of the audited cell is an independent
release of it). The events are "the audited cell's noisy count >= t" for thresholds fixed in advance;
the bound is ln((P[E | D'] - delta) / P[E | D]) with Clopper-Pearson limits, Bonferroni-corrected,
alpha = 1e-4 (``tests/dp_audit.py``). A broken measurement (half the noise scale: four times the
share, still claimed as epsilon) must be flagged in the same run.
"""

from decimal import Decimal

import numpy as np

from apps.privacy.composition import zcdp_to_epsilon
from apps.synth.engine.budget import Ledger, rho_for, split
from tests.dp_audit import SAMPLES, at_least, epsilon_lower_bound

EPSILON = Decimal(2)
DELTA = Decimal("0.001")
UNIT_ROWS = 5  # k = max_rows_per_unit
MARGINAL = np.array([30, 12, 7, 0])  # a 1-way marginal of a 4-category column, on D
CELL = 0  # the cell the added person's rows fall in
EVENTS = tuple(at_least(MARGINAL[CELL] + f * UNIT_ROWS) for f in (1.5, 1.75, 2, 2.25, 2.5, 2.75, 3))


def neighbouring_marginals() -> tuple[np.ndarray, np.ndarray]:
    added = MARGINAL.copy()
    added[CELL] += UNIT_ROWS
    return MARGINAL, added


def cell_samples(marginal: np.ndarray, rho: Decimal, share: float) -> np.ndarray:
    """The audited cell of 20,000 independent measurements of ``marginal`` with ``share``'s noise."""
    ledger = Ledger(rho, UNIT_ROWS)
    noisy, _ = ledger.measure(np.tile(marginal, SAMPLES), share)
    assert ledger.steps == 1
    return noisy.reshape(SAMPLES, marginal.size)[:, CELL]


def audit(rho: Decimal, share: float) -> float:
    side, other = (cell_samples(marginal, rho, share) for marginal in neighbouring_marginals())
    return epsilon_lower_bound(side.tolist(), other.tolist(), EVENTS, delta=float(DELTA))


def test_a_one_way_marginal_measurement_passes_the_audit_and_a_broken_one_is_flagged():
    rho = rho_for(EPSILON, DELTA)
    (share,) = split(rho, [(1, 1.0)])  # a one-column MST: the whole rho measures the 1-way marginal
    assert zcdp_to_epsilon(Decimal(share), DELTA) <= EPSILON

    sound = audit(rho, share)
    unsound = audit(4 * rho, 4 * share)  # half the noise scale: sigma = k / sqrt(2 share)

    claim = float(EPSILON)
    assert sound <= claim, f"the marginal measurement loses at least {sound:.3f} > {claim} at delta {DELTA}"
    assert unsound > claim, f"the audit failed to flag a broken marginal measurement ({unsound:.3f} <= {claim})"


def test_the_lower_bound_is_zero_on_identical_marginals():
    rho = rho_for(EPSILON, DELTA)
    (share,) = split(rho, [(1, 1.0)])

    side, other = (cell_samples(MARGINAL, rho, share).tolist() for _ in range(2))

    assert epsilon_lower_bound(side, other, EVENTS, delta=float(DELTA)) == 0.0
