"""The DP profile of a dataset: one noisy histogram per column over its declared bins or categories.

The (epsilon, delta) asked for becomes rho (``budget.rho_for``), split evenly over the columns; each
column's count vector (contributions bounded to k rows per unit) gets OpenDP's discrete Gaussian
noise with L2 sensitivity k. Counts are shown rounded and clamped at 0 (post-processing). The
spent cost is the sum of OpenDP's maps of the measurements made, like a synthesis.
"""

from decimal import Decimal

import numpy as np

from apps.synth.engine.base import ProfileResult
from apps.synth.engine.budget import Ledger, check_parameters, rho_for, split
from apps.synth.engine.encoding import Encoding
from apps.synth.engine.marginals import MarginalSource


def dp_profile(*, source: MarginalSource, encoding: Encoding, epsilon: Decimal, delta: Decimal) -> ProfileResult:
    epsilon, delta = check_parameters(epsilon, delta)
    rho = rho_for(epsilon, delta)
    names = encoding.names
    (share,) = split(rho, [(len(names), 1.0)])
    ledger = Ledger(rho, int(source.max_rows_per_unit))
    true = source.marginals(encoding, [(n,) for n in names])
    histograms: dict[str, dict[str, list]] = {}
    for code in encoding.columns:
        noisy, _ = ledger.measure(true[(code.name,)], share)
        counts = [int(max(0, v)) for v in np.rint(noisy)]
        histograms[code.name] = {"labels": code.labels, "counts": counts}
    return ProfileResult(histograms=histograms, spent=ledger.spent)
