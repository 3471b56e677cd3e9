"""MST (McKenna, Miklau & Sheldon 2021, the NIST 2018 winner), done with OpenDP noise and mbi.

Given rho (zCDP) and the encoded columns A_1..A_d:

1. **1-way marginals** (rho/3, split evenly over d): each column's count vector gets OpenDP's
   discrete Gaussian noise (sensitivity k = rows per unit, L2).
2. **Domain compression** (post-processing): codes whose noisy count is below 3 sigma are merged into
   one "rare" code per column; the merged measurement keeps its exact weighting (the merged cell is
   measured through the query (1/sqrt(m)) * count, as in the original private-pgm code; smartnoise's
   copy forgets the weight and biases the merged cell).
3. **Pair selection** (rho/3, split evenly over d - 1 rounds): the score of a pair is the L1
   distance between its true 2-way counts and the independent model of the noisy 1-way marginals
   (sensitivity k in L-infinity over the score vector; not monotonic); each round OpenDP's
   report-noisy-max (the exponential mechanism, Gumbel noise) picks one pair among those that join
   two trees (Kruskal), giving a spanning tree.
4. **2-way marginals** (rho/3, split evenly over the d - 1 chosen pairs): discrete Gaussian noise.
5. **Estimation**: mbi's mirror descent fits a graphical model to all the noisy measurements, with the
   total estimated from the noisy 1-way marginals (inverse-variance weighted): the true row count is
   never used.
6. **Sampling**: mbi's ``synthetic_data(rows, method="sample")`` draws every record i.i.d. from the
   model. The default ``method="round"`` sorts records by their parents' codes and assigns children
   by rank, which ties columns together that the model keeps independent (on a 50k x 12 benchmark it
   gave a mean 2-way TVD of 0.23, worse than shuffling columns independently).
7. Codes are decompressed (a rare code becomes one of its merged codes, in proportion to their noisy
   counts clipped at 0) and decoded (``encoding.decode``). Steps 5-7 are post-processing.

Every noise value comes from OpenDP; the sampling randomness of steps 6-7 (numpy) is post-processing
of the DP model. The sample has the number of rows asked for. The parameters published in
``details`` (noise scales, chosen pairs, compressed domain sizes) are all functions of DP outputs and
public metadata.
"""

import itertools
import math
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from apps.synth.engine.base import SynthCancelled
from apps.synth.engine.budget import Ledger, gaussian, noisy_max, split
from apps.synth.engine.encoding import Encoding, decode
from apps.synth.engine.marginals import Clique, MarginalSource

ESTIMATION_ITERATIONS = 1500
PROGRESS_EVERY = 25


class _Stop:
    def __init__(self, progress: Callable[[str, float], None], should_stop: Callable[[], bool]) -> None:
        self.progress = progress
        self.should_stop = should_stop

    def __call__(self, phase: str, fraction: float) -> None:
        if self.should_stop():
            raise SynthCancelled("the synthesis was cancelled")
        self.progress(phase, max(0.0, min(1.0, fraction)))


def candidate_pairs(encoding: Encoding) -> list[Clique]:
    return [tuple(p) for p in itertools.combinations(encoding.names, 2)]


def _support(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """Codes kept apart (noisy count >= 3 sigma); all when fewer than two would be."""
    keep = noisy >= 3 * sigma
    if keep.sum() < 2 or keep.all():
        return np.ones(noisy.size, dtype=bool)
    return keep


class _Compressed:
    """One column's compressed domain: kept codes, then (if any is merged) one rare code."""

    def __init__(self, keep: np.ndarray, noisy: np.ndarray) -> None:
        self.keep = keep
        self.kept = np.flatnonzero(keep)
        self.merged = np.flatnonzero(~keep)
        self.size = int(self.kept.size + (1 if self.merged.size else 0))
        mapping = np.full(keep.size, self.kept.size, dtype=np.int64)
        mapping[self.kept] = np.arange(self.kept.size)
        self.mapping = mapping
        weights = np.clip(noisy[self.merged], 0, None) if self.merged.size else np.zeros(0)
        uniform = np.full(self.merged.size, 1 / max(1, self.merged.size))
        self.rare_p = weights / weights.sum() if weights.sum() > 0 else uniform

    def matrix(self) -> np.ndarray:
        """(compressed size, original size) 0/1 matrix summing original cells into compressed ones."""
        out = np.zeros((self.size, self.keep.size))
        out[self.mapping, np.arange(self.keep.size)] = 1
        return out

    def expand(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.int64)
        out = np.empty(codes.size, dtype=np.int64)
        rare = codes >= self.kept.size
        out[~rare] = self.kept[codes[~rare]]
        if rare.any():
            out[rare] = rng.choice(self.merged, size=int(rare.sum()), p=self.rare_p)
        return out


class _WeightedQuery:
    """The linear query of a compressed 1-way measurement: identity, the rare cell scaled by 1/sqrt(m)."""

    def __init__(self, weights: tuple[float, ...]) -> None:
        self.weights = weights

    def __call__(self, factor: Any) -> Any:
        import jax.numpy as jnp

        return factor.datavector() * jnp.asarray(self.weights)

    def __hash__(self) -> int:
        return hash(self.weights)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _WeightedQuery) and other.weights == self.weights


def run_mst(
    *,
    source: MarginalSource,
    encoding: Encoding,
    rho: Decimal,
    rows: int,
    progress: Callable[[str, float], None],
    should_stop: Callable[[], bool],
    iterations: int = ESTIMATION_ITERATIONS,
) -> tuple[Any, Ledger, dict[str, Any]]:
    """The synthetic frame, the ledger of what was spent, public details."""
    from mbi import Domain, LinearMeasurement, estimation, marginal_loss

    step = _Stop(progress, should_stop)
    names = encoding.names
    d = len(names)
    k = int(source.max_rows_per_unit)
    ledger = Ledger(rho, k)
    rng = np.random.default_rng()

    step("Computing marginals in the backend", 0.02)
    cliques = candidate_pairs(encoding) if d > 1 else [(names[0],)]
    true = source.marginals(encoding, cliques)
    one_way: dict[str, np.ndarray] = {}
    for a, b in cliques if d > 1 else []:
        one_way.setdefault(a, true[(a, b)].sum(axis=1))
        one_way.setdefault(b, true[(a, b)].sum(axis=0))
    if d == 1:
        one_way[names[0]] = true[(names[0],)]

    if d > 1:
        share_1, share_select, share_2 = split(rho, [(d, 1.0), (d - 1, 1.0), (d - 1, 1.0)])
    else:
        (share_1,) = split(rho, [(1, 1.0)])
        share_select = share_2 = 0.0

    step("Measuring the 1-way marginals", 0.15)
    noisy_1: dict[str, np.ndarray] = {}
    sigma_1 = 0.0
    for name in names:
        noisy_1[name], sigma_1 = ledger.measure(one_way[name], share_1)
    compressed = {name: _Compressed(_support(noisy_1[name], sigma_1), noisy_1[name]) for name in names}
    matrices = {name: compressed[name].matrix() for name in names}

    # the total, from the noisy 1-way marginals only (inverse-variance weighted)
    estimates = np.array([noisy_1[n].sum() for n in names])
    variances = np.array([sigma_1**2 * noisy_1[n].size for n in names])
    total = float(max(1.0, np.sum(estimates / variances) / np.sum(1 / variances)))

    measurements = []
    for name in names:
        comp = compressed[name]
        y = matrices[name] @ noisy_1[name]
        weights = np.ones(comp.size)
        if comp.merged.size:
            weights[-1] = 1 / math.sqrt(comp.merged.size)
            y[-1] *= weights[-1]
            query: Any = _WeightedQuery(tuple(float(w) for w in weights))
            measurements.append(LinearMeasurement(y, (name,), sigma_1, query))
        else:
            measurements.append(LinearMeasurement(y, (name,), sigma_1))

    chosen: list[Clique] = []
    sigma_2 = 0.0
    if d > 1:
        step("Choosing the pairs to measure", 0.25)
        probabilities = {}
        for name in names:
            p = np.clip(matrices[name] @ noisy_1[name], 0, None)
            probabilities[name] = p / p.sum() if p.sum() > 0 else np.full(p.size, 1 / p.size)
        scores = {}
        for a, b in cliques:
            x = matrices[a] @ true[(a, b)] @ matrices[b].T
            scores[(a, b)] = float(np.abs(x - total * np.outer(probabilities[a], probabilities[b])).sum())
        component = {name: name for name in names}

        def root(name: str) -> str:
            while component[name] != name:
                component[name] = component[component[name]]
                name = component[name]
            return name

        for round_ in range(d - 1):
            step("Choosing the pairs to measure", 0.25 + 0.1 * round_ / max(1, d - 1))
            remaining = [p for p in cliques if root(p[0]) != root(p[1])]
            index = ledger.select([scores[p] for p in remaining], share_select)
            pair = remaining[index]
            chosen.append(pair)
            component[root(pair[0])] = root(pair[1])

        step("Measuring the chosen pairs", 0.36)
        for a, b in chosen:
            x = (matrices[a] @ true[(a, b)] @ matrices[b].T).round().astype(np.int64)
            noisy, sigma_2 = ledger.measure(x, share_2)
            measurements.append(LinearMeasurement(noisy.ravel(), (a, b), sigma_2))
    del true

    planned = planned_losses(d=d, k=k, share_1=share_1, share_select=share_select, share_2=share_2)
    if ledger.total != sum((Fraction(loss) * count for loss, count in planned), start=Fraction(0)):
        raise RuntimeError("the measurements made differ from the plan")

    step("Fitting the model (compiling it first takes a while)", 0.4)
    domain = Domain(names, [compressed[n].size for n in names])
    done = [0]

    def callback(_: Any) -> None:
        done[0] += 1
        if done[0] % PROGRESS_EVERY == 0:
            step("Fitting the model", 0.4 + 0.5 * done[0] / iterations)

    loss = marginal_loss.from_linear_measurements(measurements)
    loss = marginal_loss.MarginalLossFn(loss.cliques, loss.loss_fn, lipschitz_bound(domain, loss.cliques, measurements))
    model = estimation.mirror_descent(domain, loss, known_total=total, iters=iterations, callback_fn=callback)

    step("Sampling the rows", 0.92)
    sample = model.synthetic_data(rows=int(rows), method="sample").to_dict()
    step("Decoding the values", 0.96)
    codes = {n: compressed[n].expand(np.asarray(sample[n]), rng) for n in names}
    frame = decode(encoding, codes, rng)
    details = {
        "rho": str(rho),
        "rows_per_unit": k,
        "noise_scale_1way": sigma_1,
        "noise_scale_2way": sigma_2 if d > 1 else None,
        "pairs": [list(p) for p in chosen],
        "compressed_codes": {n: compressed[n].size for n in names},
        "estimation_iterations": iterations,
        "sampling": "mbi synthetic_data(method='sample')",
    }
    return frame, ledger, details


def lipschitz_bound(domain: Any, cliques: list[Clique], measurements: list[Any]) -> float:
    """An upper bound of the Lipschitz constant of the loss's gradient, in numpy (mbi would estimate it
    by power iteration through JAX, which costs seconds of compilation). The loss is
    sum_M 1/2 ||Q_M mu_C - y_M||^2 / sigma_M^2 with each measurement read from one maximal clique C, so
    its Hessian is block diagonal; in a block, Q_M sums prod(|C minus M's clique|) cells (weighted by
    at most max|w|), so lambda_max <= sum over the block's measurements of max w^2 * cells / sigma^2."""
    bound = 0.0
    for clique in cliques:
        block = 0.0
        for measurement in measurements:
            if not set(measurement.clique) <= set(clique):
                continue
            weights = getattr(measurement.query, "weights", (1.0,))
            summed = math.prod(domain[a] for a in clique if a not in measurement.clique)
            block += max(w * w for w in weights) * summed / measurement.stddev**2
        bound = max(bound, block)
    return bound or 1.0


def planned_losses(*, d: int, k: int, share_1: float, share_select: float, share_2: float) -> list[tuple[float, int]]:
    """OpenDP's maps of the planned steps (loss, how many): what the ledger holds once all are made."""
    plan = [(gaussian(share_1, k)[0].map(float(k)), d)]
    if d > 1:
        plan += [(noisy_max(share_select, k)[0].map(float(k)), d - 1), (gaussian(share_2, k)[0].map(float(k)), d - 1)]
    return plan
