"""The noise of a DP query, what it costs, and how accurate it is. OpenDP draws every noise value.

Input: a ``QueryPlan`` (public) and the pushdown query's rows, one per group: the group key values
in ``plan.group_by`` order, then one *raw* value per ``plan.measures``. A raw value is an integer:
counts and integer sums as they are, float sums in fixed point (true value = raw / 2**scale).

Noise. Every measure is noised as one vector over all output groups, with the measure's
sensitivity of that whole vector as ``d_in`` (one privacy unit added or removed, contributions
already bounded by the compiler), so parallel composition over groups is already accounted for.
The noise is OpenDP's integer noise on the raw integers (``make_laplace`` / ``make_gaussian`` over
``vector_domain(atom_domain(T="i64"))``: discrete Laplace / discrete Gaussian, exact sampling, no
floating-point attack surface); a fixed-point sum is divided by 2**scale *after* the noise
(post-processing). Raw values are saturated at +-2**62 first, a 1-Lipschitz map that keeps the
sensitivity and leaves room for the noise in i64.

Budget. With m measures the analyst's budget is split evenly:
- laplace: each measure gets epsilon_i = epsilon/m, scale = l1/epsilon_i; pure DP, and by basic
  composition the query costs ``PrivacyCost(epsilon=epsilon)``;
- gaussian: each measure gets rho_i = rho/m, sigma = l2/sqrt(2 rho_i); zCDP composes additively,
  the query costs ``PrivacyCost(rho=rho)``.
The share is rounded down and each scale nudged up until OpenDP's own privacy map
``measurement.map(d_in)`` is at most the share; then the sum of the maps is checked against the
charge, so the loss actually incurred never exceeds what the accountant records.

Keys. When every GROUP BY column has declared categories, the output keys are the cartesian
product of the declared keys whatever the rows hold (a missing group is 0 + noise; rows outside the
declared keys are dropped). Otherwise the keys come from the data and are released by OpenDP's
threshold mechanism (``make_laplace_threshold`` / ``make_gaussian_threshold``) applied to a count
measure (COUNT(*) preferred): a key is released only when its noisy count passes a threshold, and
the threshold is the smallest one whose privacy map stays within (share, delta). The count measure's
share of the budget pays for the key release and the count together (its noisy counts are the
released ones); the other measures are noised on the released keys only (adaptive composition), so
the query costs (epsilon, delta) for laplace and delta-approximate rho-zCDP (rho, delta) for
gaussian, which the accountant composes as it does any approximate zCDP charge. The threshold's
input distance is (l0, l_p, l_inf) of the count vector: l0 <= l1 (an integer count that changes
changes by at least 1; zero counts are dropped so an absent and an empty group look alike) and
l_inf <= min(l1, l2). A key held by a single person passes the threshold with probability below delta.

Post-processing (free): counts are reported clamped at 0; AVG = noisy SUM / noisy COUNT, reported
null (with a note) when the noisy count is <= 0, and clamped to the column's declared bounds.

Confidence intervals (95%). COUNT and SUM: the noisy value +- h, where h is OpenDP's accuracy of
the discrete noise at alpha = 0.05 (``discrete_laplacian_scale_to_accuracy`` /
``discrete_gaussian_scale_to_accuracy``: P[|noise| >= a] <= alpha, so |noise| <= ceil(a) - 1 with
probability >= 0.95), in true units; a count's interval is clamped at 0 like the count. For keys
released by the threshold the interval is unconditional (it ignores the selection). AVG: the
sum's and the count's intervals at alpha/2 each hold together with probability >= 0.95 (union
bound); on that event the true mean lies between the extreme ratios of the two intervals' corners
(the count at least 1), intersected with the declared bounds; when the count interval has no
positive value the interval is the declared bounds. ``accuracy`` gives the half-widths with no data:
for AVG, which depends on the group's size, the worst case (upper - lower) / 2.

Cost is a function of the plan and the parameters only; ``release`` never reports a raw value: only
noisy values, intervals built from them, declared keys and released keys. ``release`` draws the
noise once; ``PreparedRelease.run_many`` draws independent copies of the same release (one OpenDP
call per measure, noise independent per coordinate) for the empirical DP audit.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from itertools import product
from typing import Any

import opendp.prelude as dp

from apps.privacy.composition import PrivacyCost
from apps.queries.plan import Measure, OutputColumn, QueryPlan, QueryRejected

dp.enable_features("contrib")

MECHANISMS = ("laplace", "gaussian")
ALPHA = 0.05
RAW_LIMIT = 2**62

NOTE_COUNTS_CLAMPED = "Counts are reported clamped at 0 (post-processing of the noisy counts)."
NOTE_AVG_NULL = "An average is empty where its noisy count is 0 or below."
NOTE_KEYS_RELEASED = (
    "Groups of columns without declared categories are released by a DP threshold: "
    "groups with few people are not shown."
)


class UnsoundNoise(RuntimeError):
    """The noise built would lose more privacy than is charged. A bug, never the analyst's fault."""


# ---------------------------------------------------------------- parameters and cost


@dataclass(frozen=True)
class _Budget:
    mechanism: str
    total: Decimal  # epsilon (laplace) or rho (gaussian)
    delta: Decimal  # > 0 only for a key release
    share: float  # per measure, rounded down: share * m <= total exactly

    @property
    def cost(self) -> PrivacyCost:
        if self.mechanism == "laplace":
            return PrivacyCost(epsilon=self.total, delta=self.delta)
        return PrivacyCost(rho=self.total, delta=self.delta)


def _positive(name: str, value: Any, mechanism: str) -> Decimal:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise QueryRejected(f"{name} is required for the {mechanism} mechanism.", field=name)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise QueryRejected(f"{name} must be a number.", field=name) from None
    if not number.is_finite() or number <= 0 or not 0 < float(number) < math.inf:
        raise QueryRejected(f"{name} must be a positive, finite number.", field=name)
    return number


def _share(total: Decimal, parts: int) -> float:
    share = float(total) / parts
    while Fraction(share) * parts > Fraction(total):
        share = math.nextafter(share, 0.0)
    return share


def _budget(plan: QueryPlan, mechanism: str, epsilon: Any, rho: Any, delta: Any) -> _Budget:
    if mechanism not in MECHANISMS:
        raise QueryRejected("mechanism must be laplace or gaussian.", field="mechanism")
    if not plan.measures:
        raise QueryRejected("The query has no aggregate to release.")
    total = _positive("epsilon", epsilon, mechanism) if mechanism == "laplace" else _positive("rho", rho, mechanism)
    key_delta = Decimal(0)
    if plan.needs_key_release:
        if _key_measure_index(plan) is None:
            raise QueryRejected("A GROUP BY on a column without declared categories needs COUNT(*) in the query.")
        key_delta = _positive("delta", delta, mechanism)
        if key_delta >= 1:
            raise QueryRejected("delta must be below 1.", field="delta")
    return _Budget(mechanism, total, key_delta, _share(total, len(plan.measures)))


def query_cost(
    plan: QueryPlan,
    *,
    mechanism: str,
    epsilon: Decimal | None = None,
    rho: Decimal | None = None,
    delta: Decimal | None = None,
) -> PrivacyCost:
    """What releasing ``plan`` costs: (epsilon[, delta]) for laplace, (rho[, delta]) for gaussian.
    Raises QueryRejected when a parameter the mechanism needs is missing or not a positive number.
    The noise is built (not drawn) so that whatever would refuse the release refuses it here."""
    return prepare_release(plan, mechanism=mechanism, epsilon=epsilon, rho=rho, delta=delta).cost


# ---------------------------------------------------------------- noise


def _ceil_int(value: Decimal) -> int:
    return max(int(value.to_integral_value(rounding=ROUND_CEILING)), 1)


def _float_up(value: Decimal) -> float:
    result = float(value)
    while Fraction(result) < Fraction(value):
        result = math.nextafter(result, math.inf)
    return max(result, 1.0)  # raw values are integers: a non-constant query moves by 1 at least


def _key_measure_index(plan: QueryPlan) -> int | None:
    counts = [i for i, m in enumerate(plan.measures) if m.kind == "count"]
    star = [i for i in counts if plan.measures[i].column is None]
    return (star or counts or [None])[0]


def _fits(loss: float, share: float) -> bool:
    return Fraction(loss) <= Fraction(share)


@dataclass(frozen=True)
class _Noise:
    """The noise of one measure: a vector measurement on raw integers, its scale and its loss."""

    measure: Measure
    scale: float
    measurement: Any
    loss: float

    @classmethod
    def build(cls, measure: Measure, budget: _Budget) -> "_Noise":
        domain = dp.vector_domain(dp.atom_domain(T="i64"))
        if budget.mechanism == "laplace":
            d_in: int | float = _ceil_int(measure.l1_sensitivity)
            space = domain, dp.l1_distance(T="i64")
            scale = d_in / budget.share
            make = dp.m.make_laplace
        else:
            d_in = _float_up(measure.l2_sensitivity)
            space = domain, dp.l2_distance(T="f64")
            scale = d_in / math.sqrt(2 * budget.share)
            make = dp.m.make_gaussian
        measurement = make(*space, scale=scale)
        while not _fits(measurement.map(d_in), budget.share):
            scale = math.nextafter(scale, math.inf)
            measurement = make(*space, scale=scale)
        return cls(measure, scale, measurement, measurement.map(d_in))


@dataclass(frozen=True)
class _KeyRelease:
    """OpenDP's threshold mechanism on the counts of the keys found in the data."""

    index: int
    scale: float
    threshold: int
    measurement: Any
    loss: tuple[float, float]

    @classmethod
    def build(cls, plan: QueryPlan, budget: _Budget) -> "_KeyRelease":
        index = _key_measure_index(plan)
        assert index is not None  # _budget refused the plan otherwise
        measure = plan.measures[index]
        domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
        l1 = _ceil_int(measure.l1_sensitivity)
        if budget.mechanism == "laplace":
            metric = dp.l01inf_distance(dp.absolute_distance(T="i64"))
            d_in: tuple = (l1, l1, min(l1, _ceil_int(measure.l2_sensitivity)))
            scale = l1 / budget.share
            make = dp.m.make_laplace_threshold
        else:
            metric = dp.l02inf_distance(dp.absolute_distance(T="f64"))
            l2 = _float_up(measure.l2_sensitivity)
            d_in = (l1, l2, min(float(l1), l2))
            scale = l2 / math.sqrt(2 * budget.share)
            make = dp.m.make_gaussian_threshold

        def loss(scale: float, threshold: int) -> tuple[float, float]:
            return make(domain, metric, scale=scale, threshold=threshold).map(d_in)

        def fits(scale: float, threshold: int) -> bool:
            main, delta = loss(scale, threshold)
            return _fits(main, budget.share) and Fraction(delta) <= Fraction(budget.delta)

        while not _fits(loss(scale, RAW_LIMIT)[0], budget.share):
            scale = math.nextafter(scale, math.inf)
        if not fits(scale, RAW_LIMIT):
            raise QueryRejected("delta is too small for a DP key release.", field="delta")
        low, high = 0, RAW_LIMIT  # fits(high); the smallest threshold that fits is in (low, high]
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if fits(scale, middle) else (middle, high)
        return cls(index, scale, high, make(domain, metric, scale=scale, threshold=high), loss(scale, high))


def _half_width(mechanism: str, scale: float, alpha: float) -> int:
    """The integer h with P[|noise| > h] <= alpha for OpenDP's discrete noise of this scale."""
    helper = (
        dp.discrete_laplacian_scale_to_accuracy if mechanism == "laplace" else dp.discrete_gaussian_scale_to_accuracy
    )
    return max(math.ceil(helper(scale, alpha)) - 1, 0)


# ---------------------------------------------------------------- values


def _raw(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("An aggregate of the pushdown query is not a number.")
    if isinstance(value, int):
        return max(-RAW_LIMIT, min(RAW_LIMIT, value))
    number = Decimal(value)
    if number.is_nan():
        return 0
    if number.is_infinite():
        return RAW_LIMIT if number > 0 else -RAW_LIMIT
    return max(-RAW_LIMIT, min(RAW_LIMIT, int(number.to_integral_value(rounding=ROUND_HALF_EVEN))))


def _true(measure: Measure, raw: int) -> int | float:
    if measure.scale == 0 and measure.integer:
        return raw
    return raw / 2**measure.scale


def _true_width(measure: Measure, raw_width: int) -> int | float:
    return raw_width if measure.scale == 0 and measure.integer else raw_width / 2**measure.scale


def _json_key(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _sort_key(key: tuple) -> tuple:
    return tuple((value is None, "" if value is None else value) for value in key)


def _sorted_keys(keys: Iterable[tuple]) -> list[tuple]:
    keys = list(keys)
    try:
        return sorted(keys, key=_sort_key)
    except TypeError:
        return sorted(keys, key=lambda key: tuple(str(value) for value in key))


# ---------------------------------------------------------------- release


@dataclass(frozen=True)
class PreparedRelease:
    """The noise of one plan, built and checked once; ``run`` may be called on many inputs (the
    DP audit does). A job calls ``release`` once: its noise is drawn once."""

    plan: QueryPlan
    budget: _Budget
    noises: tuple[_Noise, ...]
    key_release: _KeyRelease | None
    _widths: dict[tuple[int, float], int | float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def cost(self) -> PrivacyCost:
        return self.budget.cost

    def check(self) -> None:
        """The loss of OpenDP's maps, summed, is at most the charge (and the key release's delta)."""
        losses = [Fraction(n.loss) for i, n in enumerate(self.noises) if not self._is_key_measure(i)]
        if self.key_release is not None:
            losses.append(Fraction(self.key_release.loss[0]))
            if Fraction(self.key_release.loss[1]) > Fraction(self.budget.delta):
                raise UnsoundNoise("The key release's delta exceeds the charge.")
        if sum(losses) > Fraction(self.budget.total):
            raise UnsoundNoise("The noise's privacy loss exceeds the charge.")

    def _is_key_measure(self, index: int) -> bool:
        return self.key_release is not None and self.key_release.index == index

    def _scale(self, index: int) -> float:
        return self.key_release.scale if self._is_key_measure(index) else self.noises[index].scale

    def half_width(self, index: int, alpha: float = ALPHA) -> int | float:
        """The CI half-width of a measure, in true units."""
        if (index, alpha) not in self._widths:
            raw_width = _half_width(self.budget.mechanism, self._scale(index), alpha)
            self._widths[index, alpha] = _true_width(self.plan.measures[index], raw_width)
        return self._widths[index, alpha]

    # -- the data path

    def _group_key(self, values: Sequence[Any]) -> tuple | None:
        key = []
        for group, value in zip(self.plan.group_by, values, strict=True):
            if group.declared_keys is None:
                key.append(value)
            elif value is not None and str(value) in group.declared_keys:
                key.append(str(value))
            else:
                return None
        return tuple(key)

    def _aggregate(self, rows: Iterable[Sequence[Any]]) -> dict[tuple, list[int]]:
        width, n = len(self.plan.group_by), len(self.plan.measures)
        groups: dict[tuple, list[int]] = {}
        for row in rows:
            if len(row) != width + n:
                raise ValueError("A row of the pushdown query does not match the plan.")
            key = self._group_key(row[:width])
            if key is None:
                continue
            totals = groups.setdefault(key, [0] * n)
            for i, value in enumerate(row[width:]):
                totals[i] = max(-RAW_LIMIT, min(RAW_LIMIT, totals[i] + _raw(value)))
        return groups

    def _declared_keys(self) -> list[tuple]:
        return [tuple(key) for key in product(*(group.declared_keys or () for group in self.plan.group_by))]

    def _released_keys(self, groups: dict[tuple, list[int]], copies: int) -> list[dict[tuple, int]]:
        """Per copy, the keys the threshold releases and their noisy counts (one OpenDP call)."""
        assert self.key_release is not None
        index = self.key_release.index
        present = [key for key, values in groups.items() if values[index] > 0]
        counts = {f"{copy}:{i}": groups[key][index] for copy in range(copies) for i, key in enumerate(present)}
        noisy = self.key_release.measurement(counts) if counts else {}
        released: list[dict[tuple, int]] = [{} for _ in range(copies)]
        for label, value in noisy.items():
            copy, i = label.split(":")
            released[int(copy)][present[int(i)]] = value
        return released

    def noisy_measures(
        self, rows: Iterable[Sequence[Any]], copies: int = 1
    ) -> list[tuple[list[tuple], list[list[int]]]]:
        """Per independent copy of the release: the output keys and, per measure, the noisy raw value
        of each key. Each measure's noise is drawn by one OpenDP call over all copies' vectors."""
        groups = self._aggregate(rows)
        zeros = [0] * len(self.plan.measures)
        if self.key_release is not None:
            released = self._released_keys(groups, copies)
            keys = [_sorted_keys(r) for r in released]
        else:
            keys = [self._declared_keys()] * copies
        noisy: list[list[list[int]]] = [[] for _ in range(copies)]
        for i, noise in enumerate(self.noises):
            if self._is_key_measure(i):
                for copy in range(copies):
                    noisy[copy].append([released[copy][key] for key in keys[copy]])
                continue
            true = [groups.get(key, zeros)[i] for copy_keys in keys for key in copy_keys]
            values = list(noise.measurement(true)) if true else []
            start = 0
            for copy in range(copies):
                noisy[copy].append(values[start : start + len(keys[copy])])
                start += len(keys[copy])
        return list(zip(keys, noisy, strict=True))

    def run(self, rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
        """The noisy answer on the pushdown's rows: noise drawn once."""
        return self.run_many(rows, copies=1)[0]

    def run_many(self, rows: Iterable[Sequence[Any]], copies: int) -> list[dict[str, Any]]:
        """``copies`` independent answers on the same rows, for the DP audit (drawn in one call per
        measure: OpenDP's vector noise is independent per coordinate)."""
        return [self._answer(keys, noisy) for keys, noisy in self.noisy_measures(rows, copies)]

    def _answer(self, keys: list[tuple], noisy: list[list[int]]) -> dict[str, Any]:
        index = {m.name: i for i, m in enumerate(self.plan.measures)}
        group_index = {g.column: i for i, g in enumerate(self.plan.group_by)}
        notes = list(self.plan.notes)
        table: list[list[Any]] = []
        intervals: list[list[Any]] = []
        for row_number, key in enumerate(keys):
            cells, cis = [], []
            for output in self.plan.outputs:
                if output.kind == "group":
                    cells.append(_json_key(key[group_index[output.source or output.name]]))
                    cis.append(None)
                    continue
                values = [noisy[index[name]][row_number] for name in output.measures]
                value, ci = self._cell(output, [index[name] for name in output.measures], values)
                cells.append(value)
                cis.append(ci)
            table.append(cells)
            intervals.append(cis)
        kinds = [output.kind for output in self.plan.outputs]
        if "count" in kinds:
            notes.append(NOTE_COUNTS_CLAMPED)
        if any(cell is None and kind == "avg" for row in table for cell, kind in zip(row, kinds, strict=True)):
            notes.append(NOTE_AVG_NULL)
        if self.key_release is not None:
            notes.append(NOTE_KEYS_RELEASED)
        return {
            "columns": [output.name for output in self.plan.outputs],
            "rows": table,
            "ci": intervals,
            "mechanism": self.budget.mechanism,
            "notes": notes,
        }

    def _cell(self, output: OutputColumn, indexes: list[int], raws: list[int]) -> tuple[Any, list | None]:
        if output.kind == "count":
            width = self.half_width(indexes[0])
            return max(raws[0], 0), [max(raws[0] - width, 0), max(raws[0] + width, 0)]
        if output.kind == "sum":
            measure = self.plan.measures[indexes[0]]
            value, width = _true(measure, raws[0]), self.half_width(indexes[0])
            return value, [value - width, value + width]
        return self._average(indexes, raws)

    def _average(self, indexes: list[int], raws: list[int]) -> tuple[float | None, list | None]:
        (sum_index, count_index), (raw_sum, count) = indexes, raws
        measure = self.plan.measures[sum_index]
        if count <= 0:
            return None, None
        total = _true(measure, raw_sum)
        low = float(measure.lower) if measure.lower is not None else -math.inf
        high = float(measure.upper) if measure.upper is not None else math.inf
        value = min(max(total / count, low), high)
        sum_width = self.half_width(sum_index, ALPHA / 2)
        count_width = self.half_width(count_index, ALPHA / 2)
        counts = (max(count - count_width, 1), count + count_width)
        if counts[1] < 1:
            return value, [low, high] if math.isfinite(low) and math.isfinite(high) else None
        ratios = [s / c for s in (total - sum_width, total + sum_width) for c in counts]
        return value, [max(min(ratios), low), min(max(ratios), high)]


def prepare_release(
    plan: QueryPlan,
    *,
    mechanism: str,
    epsilon: Decimal | None = None,
    rho: Decimal | None = None,
    delta: Decimal | None = None,
) -> PreparedRelease:
    budget = _budget(plan, mechanism, epsilon, rho, delta)
    key_release = _KeyRelease.build(plan, budget) if plan.needs_key_release else None
    noises = tuple(_Noise.build(measure, budget) for measure in plan.measures)
    prepared = PreparedRelease(plan, budget, noises, key_release)
    prepared.check()
    return prepared


def release(
    plan: QueryPlan,
    rows: Iterable[Sequence[Any]],
    *,
    mechanism: str,
    epsilon: Decimal | None = None,
    rho: Decimal | None = None,
    delta: Decimal | None = None,
) -> dict[str, Any]:
    """The noisy answer of ``plan`` on the pushdown rows: columns, rows, 95% CIs, notes."""
    return prepare_release(plan, mechanism=mechanism, epsilon=epsilon, rho=rho, delta=delta).run(rows)


def accuracy(
    plan: QueryPlan,
    *,
    mechanism: str,
    epsilon: Decimal | None = None,
    rho: Decimal | None = None,
    delta: Decimal | None = None,
) -> dict[str, float | None]:
    """The 95% CI half-width of each aggregate output, from the plan alone (no data); None for an
    AVG without declared bounds (its width then depends on the data)."""
    prepared = prepare_release(plan, mechanism=mechanism, epsilon=epsilon, rho=rho, delta=delta)
    index = {m.name: i for i, m in enumerate(plan.measures)}
    widths: dict[str, float | None] = {}
    for output in plan.outputs:
        if output.kind in ("count", "sum"):
            widths[output.name] = float(prepared.half_width(index[output.measures[0]]))
        elif output.kind == "avg":
            measure = plan.measures[index[output.measures[0]]]
            if measure.lower is not None and measure.upper is not None:
                widths[output.name] = float(measure.upper - measure.lower) / 2
            else:
                widths[output.name] = None
    return widths
