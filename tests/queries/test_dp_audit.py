"""An empirical DP audit of the count, sum and mean paths (shared/testing.md, case 12).

For each path, the release is run 20,000 times on each of two neighbouring inputs, D and D' = D plus
one privacy unit in the worst case (k rows at the upper bound: count + k, sum + k*M). For each event
E fixed in advance (the released value >= t, or the value is empty), Clopper-Pearson bounds give
P[M(D') in E] >= p1 and P[M(D) in E] <= p0, and ln(p1 / p0) (and the reverse) is a lower bound on
the true epsilon; all these bounds hold together with probability >= 1 - alpha (Bonferroni over
every one-sided bound, alpha = 1e-4). The audit fails if the lower bound exceeds the claimed epsilon.
In the same test, a broken release must be flagged: the same release with half the noise scale it
needs (the noise of twice the epsilon it claims) must show a lower bound above the claimed epsilon.

The 20,000 releases of one side go through ``PreparedRelease.run_many``, the code path of every
release (``run`` is ``run_many`` with one copy): the noise is built once and each measure's noise
for all copies is drawn by one OpenDP call, independent per coordinate, so the copies are
independent releases. The inputs come from functions: hand-built rows, and the rows the compiled
pushdown query returns from two neighbouring PostgreSQL tables.

The Gaussian release is zCDP: it is audited as (epsilon, delta)-DP at the epsilon the accountant
charges for its rho at a stated delta (``release_epsilon``), with the bound ln((p1 - delta) / p0).
The statistics live in ``tests/dp_audit.py`` (shared with the synthesizer's audit).
"""

import dataclasses
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from apps.domains.connectors import connector_for
from apps.privacy.composition import release_epsilon
from apps.queries.compiler import compile_dp_query, dialect_for, pushdown_sql
from apps.queries.mechanisms import prepare_release
from apps.queries.plan import GroupBy, Measure, OutputColumn, QueryPlan
from tests.dp_audit import SAMPLES, Event, at_least, epsilon_lower_bound, is_empty

EPSILON = Decimal(1)
UNIT_ROWS = 2  # k: a privacy unit contributes at most this many rows
UPPER = 50  # M: the declared upper bound of the summed column (lower bound 0)


# ---------------------------------------------------------------- the paths


def plan_of(measures: Sequence[Measure], output: OutputColumn, group_by: tuple[GroupBy, ...] = ()) -> QueryPlan:
    groups = tuple(OutputColumn(g.column, "group", g.column) for g in group_by)
    return QueryPlan(
        dataset_address="hr.census.adult",
        dataset_version=1,
        normalized_sql="SELECT ...",
        outputs=(*groups, output),
        measures=tuple(measures),
        group_by=group_by,
        privacy_unit="person_id",
        max_rows_per_unit=UNIT_ROWS,
    )


COUNT = Measure("n", "count", None, l1_sensitivity=Decimal(UNIT_ROWS), l2_sensitivity=Decimal(UNIT_ROWS))
SUM = Measure(
    "s", "sum", "x", Decimal(0), Decimal(UPPER), l1_sensitivity=Decimal(UNIT_ROWS * UPPER),
    l2_sensitivity=Decimal(UNIT_ROWS * UPPER),
)  # fmt: skip
FIXED_SCALE = 10
FIXED_RAW = Decimal("1.5") * 2**FIXED_SCALE * UNIT_ROWS
FIXED_SUM = Measure("w", "sum", "w", Decimal(0), Decimal("1.5"), False, FIXED_SCALE, FIXED_RAW, FIXED_RAW)


@dataclasses.dataclass(frozen=True)
class Path:
    plan: QueryPlan
    rows: tuple[list[tuple], list[tuple]]  # the pushdown's rows on D and on D'
    events: tuple[Event, ...]


def neighbouring_rows(path: str) -> tuple[list[tuple], list[tuple]]:
    """The pushdown's rows on D and on D' = D plus one unit of k rows at the upper bound."""
    if path == "count":
        return [(40,)], [(40 + UNIT_ROWS,)]
    if path == "sum":
        return [(1000,)], [(1000 + UNIT_ROWS * UPPER,)]
    if path == "fixed_point_sum":
        raw = 300 * 2**FIXED_SCALE
        return [(raw,)], [(raw + int(FIXED_RAW),)]
    # the mean of a declared group: empty in D (no row at all), one unit at the bound in D'
    return [], [("g", UNIT_ROWS * UPPER, UNIT_ROWS)]


def paths() -> dict[str, Path]:
    step = float(FIXED_RAW) / 2**FIXED_SCALE
    return {
        "count": Path(
            plan_of([COUNT], OutputColumn("n", "count", measures=("n",))),
            neighbouring_rows("count"),
            tuple(at_least(40 + j) for j in range(-2, 5)),
        ),
        "sum": Path(
            plan_of([SUM], OutputColumn("s", "sum", measures=("s",))),
            neighbouring_rows("sum"),
            tuple(at_least(1000 + j * UNIT_ROWS * UPPER / 2) for j in range(-2, 5)),
        ),
        "fixed_point_sum": Path(
            plan_of([FIXED_SUM], OutputColumn("w", "sum", measures=("w",))),
            neighbouring_rows("fixed_point_sum"),
            tuple(at_least(300 + j * step / 2) for j in range(-2, 5)),
        ),
        "mean": Path(
            plan_of([SUM, COUNT], OutputColumn("m", "avg", measures=("s", "n")), (GroupBy("g", ("g",)),)),
            neighbouring_rows("mean"),
            (is_empty, *(at_least(UPPER * f) for f in (0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0))),
        ),
    }


def releases(plan: QueryPlan, rows: list[tuple], epsilon: Decimal = EPSILON, n: int = SAMPLES) -> list[dict]:
    """n independent releases of ``plan`` on ``rows``."""
    return prepare_release(plan, mechanism="laplace", epsilon=epsilon).run_many(rows, copies=n)


def audit(
    plan: QueryPlan, rows: tuple[list[tuple], list[tuple]], events: Sequence[Event], epsilon: Decimal = EPSILON
) -> float:
    """The lower bound on the epsilon of the last output of ``plan``'s first row, released with
    ``epsilon``'s noise on D and on D'."""
    side, other = ([r["rows"][0][-1] for r in releases(plan, input_rows, epsilon)] for input_rows in rows)
    return epsilon_lower_bound(side, other, events)


@pytest.mark.parametrize("name", ["count", "sum", "fixed_point_sum", "mean"])
def test_the_release_passes_the_audit_and_a_broken_release_is_flagged(name):
    path = paths()[name]

    sound = audit(path.plan, path.rows, path.events)
    unsound = audit(path.plan, path.rows, path.events, epsilon=2 * EPSILON)  # half the noise scale

    assert sound <= EPSILON, f"the {name} path loses at least {sound:.3f} > {EPSILON}"
    assert unsound > EPSILON, f"the audit failed to flag a broken {name} path ({unsound:.3f})"


def test_the_lower_bound_is_zero_on_identical_inputs():
    path = paths()["count"]

    bound = audit(path.plan, (path.rows[0], path.rows[0]), path.events)

    assert bound == 0.0


# ---------------------------------------------------------------- the Gaussian (zCDP) release

RHO = Decimal("0.2")
DELTA = Decimal("0.001")  # the stated delta the accountant converts rho at
GAUSSIAN_EVENTS = tuple(at_least(1000 + f * UNIT_ROWS * UPPER) for f in (1.5, 1.75, 2, 2.25, 2.5, 2.75, 3))


def gaussian_samples(rows: list[tuple], rho: Decimal) -> list[Any]:
    """The released sum of 20,000 Gaussian releases of ``SUM`` on ``rows`` with ``rho``'s noise."""
    prepared = prepare_release(plan_of([SUM], OutputColumn("s", "sum", measures=("s",))), mechanism="gaussian", rho=rho)
    return [r["rows"][0][-1] for r in prepared.run_many(rows, copies=SAMPLES)]


def gaussian_audit(rho: Decimal) -> float:
    """The lower bound on epsilon at ``DELTA`` of a Gaussian sum released with ``rho``'s noise."""
    side, other = (gaussian_samples(rows, rho) for rows in neighbouring_rows("sum"))
    return epsilon_lower_bound(side, other, GAUSSIAN_EVENTS, delta=float(DELTA))


def test_the_gaussian_release_passes_the_audit_at_the_epsilon_charged_and_a_broken_one_is_flagged():
    plan = plan_of([SUM], OutputColumn("s", "sum", measures=("s",)))
    cost = prepare_release(plan, mechanism="gaussian", rho=RHO).cost
    claim = float(release_epsilon(cost, DELTA))  # what the accountant charges for rho at DELTA
    assert cost.rho == RHO and 2.0 < claim < 2.1

    sound = gaussian_audit(RHO)
    unsound = gaussian_audit(4 * RHO)  # half the noise scale: sigma = l2 / sqrt(2 rho)

    assert sound <= claim, f"the Gaussian release loses at least {sound:.3f} > {claim:.3f} at delta {DELTA}"
    assert unsound > claim, f"the audit failed to flag a broken Gaussian release ({unsound:.3f} <= {claim:.3f})"


# ---------------------------------------------------------------- through the compiler, on PostgreSQL

AUDITED_QUERY = "SELECT sex, COUNT(*) AS n, SUM(age) AS total_age, AVG(age) AS mean_age FROM adult GROUP BY sex"
PG_EPSILON = Decimal("1.5")


def compiled_rows(dataset: Any, backend: Any) -> tuple[QueryPlan, list[tuple]]:
    """The audited query compiled for the dataset's current table, and its per-group aggregates as
    PostgreSQL computes them there."""
    plan = compile_dp_query(AUDITED_QUERY, dataset=dataset)
    sql, params = pushdown_sql(plan, dialect=dialect_for(backend))
    with connector_for(backend) as connector:
        return plan, connector.fetch_aggregates(sql, params, max_rows=100)


def cell_samples(plan: QueryPlan, rows: list[tuple], key: str, epsilon: Decimal) -> dict[str, list[Any]]:
    """The released cells of group ``key`` in 20,000 releases of ``plan`` on ``rows`` with ``epsilon``'s noise."""
    columns = [output.name for output in plan.outputs]
    samples: dict[str, list[Any]] = {name: [] for name in columns}
    for result in releases(plan, rows, epsilon):
        row = next(row for row in result["rows"] if row[0] == key)
        for name, value in zip(columns, row, strict=True):
            samples[name].append(value)
    return samples


def claimed_epsilon(plan: QueryPlan, output: str) -> float:
    """What the release claims for one output: the shares of the measures it is built from."""
    column = next(o for o in plan.outputs if o.name == output)
    return float(PG_EPSILON) * len(set(column.measures)) / len(plan.measures)


@pytest.mark.django_db
def test_the_compiled_query_on_postgresql_passes_the_audit_and_a_broken_release_is_flagged(adult, adult_copy):
    people = [{"person_id": i, "sex": "Male", "age": 20 + i} for i in range(30)]
    extreme = {"person_id": 1000, "sex": "Female", "age": 90}  # one more person, alone in her group, at the bound
    (plan, d), (neighbour_plan, d_prime) = (
        compiled_rows(adult, adult_copy("postgresql", table)) for table in (people, [*people, extreme])
    )
    assert dataclasses.replace(neighbour_plan, table_schema=plan.table_schema) == plan, "one plan, two tables"
    rows = d, d_prime
    assert [row for row in rows[1] if row[0] == "Female"] == [("Female", 1, 90, 1)]
    assert all(not row[1] for row in rows[0] if row[0] == "Female")
    low, high = 17, 90
    events: dict[str, tuple[Event, ...]] = {
        "n": tuple(at_least(t) for t in (1, 2, 3)),
        "total_age": tuple(at_least(t) for t in (0, 45, 90, 135, 180)),
        "mean_age": (is_empty, *(at_least(low + (high - low) * f) for f in (0, 0.25, 0.5, 0.75, 0.9, 1.0))),
    }

    bounds = {}
    for name, epsilon in (("sound", PG_EPSILON), ("broken", 2 * PG_EPSILON)):  # broken: half the noise scale
        side, other = (cell_samples(plan, r, "Female", epsilon) for r in rows)
        bounds[name] = {column: epsilon_lower_bound(side[column], other[column], evs) for column, evs in events.items()}

    for column in events:
        claim = claimed_epsilon(plan, column)
        assert bounds["sound"][column] <= claim, f"{column}: loses at least {bounds['sound'][column]:.3f} > {claim}"
        assert bounds["broken"][column] > claim, (
            f"{column}: broken release not flagged ({bounds['broken'][column]:.3f})"
        )
