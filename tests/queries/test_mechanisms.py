"""The noise, the cost and the confidence intervals of DP query answers, on hand-built plans."""

import json
import math
from collections.abc import Sequence
from decimal import Decimal

import pytest

from apps.privacy.composition import PrivacyCost
from apps.queries.mechanisms import (
    NOTE_AVG_NULL,
    NOTE_KEYS_RELEASED,
    accuracy,
    prepare_release,
    query_cost,
    release,
)
from apps.queries.plan import GroupBy, Measure, OutputColumn, QueryPlan, QueryRejected

SEXES = ("Female", "Male")
RACES = ("Black", "Other", "White")


def count_star(l1: int = 1) -> Measure:
    return Measure("count", "count", None, l1_sensitivity=Decimal(l1), l2_sensitivity=Decimal(l1))


def age_sum(l1: int = 90) -> Measure:
    return Measure(
        "sum_age", "sum", "age", Decimal(0), Decimal(90), l1_sensitivity=Decimal(l1), l2_sensitivity=Decimal(l1)
    )


def weight_sum(scale: int = 8) -> Measure:
    """A float column in [0, 1.5], summed in fixed point with ``scale`` bits."""
    raw = Decimal("1.5") * 2**scale
    return Measure("sum_w", "sum", "w", Decimal(0), Decimal("1.5"), False, scale, raw, raw)


def make_plan(
    measures: Sequence[Measure],
    outputs: Sequence[OutputColumn],
    group_by: Sequence[GroupBy] = (),
) -> QueryPlan:
    groups = tuple(OutputColumn(g.column, "group", g.column) for g in group_by)
    return QueryPlan(
        dataset_address="hr.census.adult",
        dataset_version=1,
        normalized_sql="SELECT ...",
        outputs=groups + tuple(outputs),
        measures=tuple(measures),
        group_by=tuple(group_by),
        privacy_unit="person_id",
        max_rows_per_unit=1,
    )


COUNT = OutputColumn("n", "count", measures=("count",))
SUM = OutputColumn("total_age", "sum", measures=("sum_age",))
AVG = OutputColumn("mean_age", "avg", measures=("sum_age", "count"))
WEIGHT = OutputColumn("total_w", "sum", measures=("sum_w",))
BY_SEX = GroupBy("sex", SEXES)
BY_CITY = GroupBy("city", None)


def cell(result: dict, row: int, column: str):
    return result["rows"][row][result["columns"].index(column)]


def interval(result: dict, row: int, column: str):
    return result["ci"][row][result["columns"].index(column)]


# ---------------------------------------------------------------- cost


def test_a_laplace_query_costs_the_analysts_epsilon_whatever_the_number_of_aggregates():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM, AVG], [BY_SEX])

    cost = query_cost(plan, mechanism="laplace", epsilon=Decimal("0.5"), rho=None, delta=None)

    assert cost == PrivacyCost(epsilon=Decimal("0.5"))


def test_a_gaussian_query_costs_the_analysts_rho():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM], [BY_SEX])

    cost = query_cost(plan, mechanism="gaussian", epsilon=Decimal(1), rho=Decimal("0.02"), delta=Decimal("1e-6"))

    assert cost == PrivacyCost(rho=Decimal("0.02"))


@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
def test_a_key_release_adds_the_analysts_delta_to_the_cost(mechanism):
    plan = make_plan([count_star()], [COUNT], [BY_CITY])

    cost = query_cost(plan, mechanism=mechanism, epsilon=Decimal(1), rho=Decimal("0.5"), delta=Decimal("1e-7"))

    assert cost.delta == Decimal("1e-7")
    assert (cost.epsilon, cost.rho) == ((Decimal(1), 0) if mechanism == "laplace" else (0, Decimal("0.5")))


def test_the_budget_is_split_evenly_and_opendps_maps_stay_within_each_share():
    plan = make_plan([count_star(), age_sum(), weight_sum()], [COUNT, SUM, WEIGHT], [BY_SEX])

    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal("0.3"))

    assert [noise.loss for noise in prepared.noises] == pytest.approx([0.1, 0.1, 0.1], rel=1e-9)
    assert all(noise.loss <= 0.1 for noise in prepared.noises)
    assert sum(Decimal(noise.loss) for noise in prepared.noises) <= Decimal("0.3")
    assert [noise.scale for noise in prepared.noises] == pytest.approx([10, 900, 1.5 * 256 * 10], rel=1e-9)


def test_gaussian_noise_has_sigma_l2_over_root_two_rho_per_measure():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM], [BY_SEX])

    prepared = prepare_release(plan, mechanism="gaussian", rho=Decimal("0.5"))

    assert [noise.scale for noise in prepared.noises] == pytest.approx([1 / math.sqrt(0.5), 90 / math.sqrt(0.5)])
    assert sum(Decimal(noise.loss) for noise in prepared.noises) <= Decimal("0.5")


@pytest.mark.parametrize(
    "value", [None, "", " ", 0, -1, "NaN", "sNaN", "Infinity", "-Infinity", "abc", "1e400", "1e-400", True]
)
def test_it_refuses_an_epsilon_that_is_missing_or_not_a_positive_finite_number(value):
    plan = make_plan([count_star()], [COUNT])

    with pytest.raises(QueryRejected, match="epsilon"):
        query_cost(plan, mechanism="laplace", epsilon=value, rho=Decimal(1), delta=Decimal("1e-6"))


@pytest.mark.parametrize("value", [None, 0, Decimal(-1), Decimal("NaN"), Decimal("Infinity")])
def test_it_refuses_a_rho_that_is_missing_or_not_a_positive_finite_number(value):
    plan = make_plan([count_star()], [COUNT])

    with pytest.raises(QueryRejected, match="rho"):
        query_cost(plan, mechanism="gaussian", epsilon=Decimal(1), rho=value, delta=Decimal("1e-6"))


@pytest.mark.parametrize("value", [None, 0, Decimal(1), Decimal("NaN"), Decimal(-1)])
def test_it_refuses_a_key_release_without_a_delta_in_zero_one(value):
    plan = make_plan([count_star()], [COUNT], [BY_CITY])

    with pytest.raises(QueryRejected, match="delta"):
        query_cost(plan, mechanism="laplace", epsilon=Decimal(1), delta=value)


def test_it_refuses_an_unknown_mechanism():
    plan = make_plan([count_star()], [COUNT])

    with pytest.raises(QueryRejected, match="mechanism"):
        query_cost(plan, mechanism="exponential", epsilon=Decimal(1))


def test_it_refuses_a_key_release_without_a_count():
    plan = make_plan([age_sum()], [SUM], [BY_CITY])

    with pytest.raises(QueryRejected, match=r"COUNT\(\*\)"):
        query_cost(plan, mechanism="laplace", epsilon=Decimal(1), delta=Decimal("1e-6"))


# ---------------------------------------------------------------- shapes and keys


def test_the_output_keys_are_the_declared_keys_whatever_the_rows_hold():
    plan = make_plan([count_star()], [COUNT], [BY_SEX, GroupBy("race", RACES)])
    rows = [("Male", "White", 10), ("Unknown", "White", 7), ("Male", None, 3)]

    result = release(plan, rows, mechanism="laplace", epsilon=Decimal(1))

    assert result["columns"] == ["sex", "race", "n"]
    assert [tuple(row[:2]) for row in result["rows"]] == [(s, r) for s in SEXES for r in RACES]
    assert len(result["ci"]) == 6 and all(ci[:2] == [None, None] for ci in result["ci"])
    assert "Unknown" not in json.dumps(result)


def test_a_declared_group_missing_from_the_rows_is_zero_plus_noise():
    plan = make_plan([age_sum()], [SUM], [BY_SEX])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal(1))

    female = [cell(prepared.run([("Male", 4000)]), 0, "total_age") for _ in range(400)]

    assert len(set(female)) > 50
    assert abs(sum(female) / len(female)) < 20  # noise of scale 90: the mean of 400 draws is within 4.5 sd of 0


def test_a_query_without_group_by_gives_one_row():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM])

    result = release(plan, [(1000, 40_000)], mechanism="laplace", epsilon=Decimal(100))

    assert len(result["rows"]) == 1
    assert cell(result, 0, "n") == pytest.approx(1000, abs=5)
    assert cell(result, 0, "total_age") == pytest.approx(40_000, abs=50)


def test_postgresql_decimals_and_nulls_are_read_as_raw_integers():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM], [BY_SEX])

    result = release(
        plan, [("Female", 12, None), ("Male", 30, Decimal(1200))], mechanism="laplace", epsilon=Decimal(100)
    )

    assert cell(result, 0, "total_age") == pytest.approx(0, abs=50)
    assert cell(result, 1, "total_age") == pytest.approx(1200, abs=50)


def test_it_refuses_rows_that_do_not_match_the_plan_without_naming_a_value():
    plan = make_plan([count_star()], [COUNT], [BY_SEX])

    with pytest.raises(ValueError, match="does not match the plan") as error:
        release(plan, [("Male", 31337, 42)], mechanism="laplace", epsilon=Decimal(1))

    assert "31337" not in str(error.value) and "Male" not in str(error.value)


def test_values_beyond_the_integer_range_are_saturated_not_an_error():
    plan = make_plan([age_sum()], [SUM])

    result = release(plan, [(2**80,)], mechanism="laplace", epsilon=Decimal(1))

    assert 2**61 < cell(result, 0, "total_age") < 2**63


# ---------------------------------------------------------------- integers, fixed point, post-processing


def test_integer_measures_get_integer_noise():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM], [BY_SEX])

    result = release(plan, [("Male", 10, 400)], mechanism="gaussian", rho=Decimal("0.1"))

    values = [v for row in result["rows"] for v in row[1:]]
    assert all(type(v) is int for v in values)


def test_fixed_point_sums_are_noised_in_raw_units_then_scaled():
    plan = make_plan([weight_sum(scale=8)], [WEIGHT])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal(1))

    values = [cell(prepared.run([(round(123.25 * 256),)]), 0, "total_w") for _ in range(200)]

    assert all(isinstance(v, float) and (v * 256).is_integer() for v in values)
    assert len(set(values)) > 20
    assert sum(values) / len(values) == pytest.approx(123.25, abs=0.5)  # scale 1.5 per draw


def test_fixed_point_sums_are_close_to_the_truth_with_little_noise():
    plan = make_plan([weight_sum(scale=16)], [WEIGHT])

    result = release(plan, [(round(123.25 * 2**16),)], mechanism="laplace", epsilon=Decimal(1000))

    assert cell(result, 0, "total_w") == pytest.approx(123.25, abs=0.05)


def test_the_average_is_the_noisy_sum_over_the_noisy_count_clamped_to_the_bounds():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM, AVG], [BY_SEX])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal(1))

    for _ in range(200):
        result = prepared.run([("Female", 3, 120), ("Male", 1000, 40_000)])
        for row in range(2):
            count, total, mean = (cell(result, row, c) for c in ("n", "total_age", "mean_age"))
            if count > 0:
                assert mean == pytest.approx(min(max(total / count, 0), 90))
            else:
                assert mean is None


def test_the_average_is_empty_with_a_note_when_the_noisy_count_is_not_positive():
    plan = make_plan([count_star(), age_sum()], [AVG], [BY_SEX])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal(1))

    results = [prepared.run([("Male", 1000, 40_000)]) for _ in range(60)]

    empty = [r for r in results if cell(r, 0, "mean_age") is None]
    assert empty, "an empty group's noisy count is <= 0 about half of the time"
    assert all(NOTE_AVG_NULL in r["notes"] and interval(r, 0, "mean_age") is None for r in empty)
    assert all(NOTE_AVG_NULL not in r["notes"] for r in results if cell(r, 0, "mean_age") is not None)
    assert all(cell(r, 1, "mean_age") == pytest.approx(40, abs=3) for r in results)  # noise of scale 0.18


def test_counts_are_reported_clamped_at_zero():
    plan = make_plan([count_star()], [COUNT], [BY_SEX])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal("0.1"))

    counts = [cell(prepared.run([]), row, "n") for row in (0, 1) for _ in range(100)]

    assert min(counts) == 0 and max(counts) > 0


# ---------------------------------------------------------------- confidence intervals


def coverage(prepared, rows, column: str, truth: float, draws: int = 2000) -> float:
    hits = 0
    for _ in range(draws):
        low, high = interval(prepared.run(rows), 0, column)
        hits += low <= truth <= high
    return hits / draws


@pytest.mark.parametrize(
    ("mechanism", "measures", "output", "rows", "truth"),
    [
        ("laplace", [count_star()], COUNT, [(500,)], 500),
        ("gaussian", [count_star()], COUNT, [(500,)], 500),
        ("laplace", [age_sum()], SUM, [(20_000,)], 20_000),
        ("laplace", [weight_sum(scale=8)], WEIGHT, [(round(300.5 * 256),)], 300.5),
        ("gaussian", [weight_sum(scale=8)], WEIGHT, [(round(300.5 * 256),)], 300.5),
    ],
)
def test_the_95_percent_intervals_cover_the_truth_95_percent_of_the_time(mechanism, measures, output, rows, truth):
    plan = make_plan(measures, [output])
    prepared = prepare_release(plan, mechanism=mechanism, epsilon=Decimal("0.01"), rho=Decimal("0.00005"))

    assert 0.93 <= coverage(prepared, rows, output.name, truth) <= 0.97


def test_the_average_interval_covers_the_truth_at_least_95_percent_of_the_time_and_is_informative():
    plan = make_plan([count_star(), age_sum()], [AVG])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal("0.5"))
    widths = []
    hits = 0
    for _ in range(2000):
        result = prepared.run([(400, 400 * 37)])
        low, high = interval(result, 0, "mean_age")
        hits += low <= 37 <= high
        widths.append(high - low)

    assert hits / 2000 >= 0.95
    assert max(widths) < 30  # far tighter than the declared range [0, 90]


def test_accuracy_gives_the_half_widths_of_the_released_intervals_without_data():
    plan = make_plan([count_star(), age_sum(), weight_sum()], [COUNT, SUM, WEIGHT, AVG], [BY_SEX])
    params = {"mechanism": "laplace", "epsilon": Decimal("0.3")}

    widths = accuracy(plan, **params)
    result = release(plan, [("Male", 100, 4000, 2560)], **params)

    assert set(widths) == {"n", "total_age", "total_w", "mean_age"}
    assert widths["n"] == pytest.approx(10 * math.log(20), abs=1)  # scale * ln(1/alpha)
    for column in ("n", "total_age", "total_w"):
        low, high = interval(result, 1, column)
        assert (high - low) / 2 == pytest.approx(widths[column])
    assert widths["mean_age"] == 45.0  # the worst case, for any group size


def test_gaussian_accuracy_matches_opendps_discrete_gaussian():
    plan = make_plan([count_star()], [COUNT])

    widths = accuracy(plan, mechanism="gaussian", rho=Decimal("0.005"))

    assert widths["n"] == pytest.approx(1.96 * 10, abs=1)


# ---------------------------------------------------------------- key release


@pytest.mark.parametrize("mechanism", ["laplace", "gaussian"])
def test_a_key_held_by_a_single_person_is_never_released(mechanism):
    plan = make_plan([count_star(), age_sum()], [COUNT, AVG], [BY_CITY])
    prepared = prepare_release(plan, mechanism=mechanism, epsilon=Decimal(1), rho=Decimal("0.5"), delta=Decimal("1e-6"))
    rows = [("Paris", 1000, 40_000), ("Hamlet-of-one", 1, 37), ("Lyon", 200, 9000)]

    results = [prepared.run(rows) for _ in range(2000)]

    assert all([row[0] for row in r["rows"]] == ["Lyon", "Paris"] for r in results)
    assert all(NOTE_KEYS_RELEASED in r["notes"] for r in results)
    assert not any("Hamlet-of-one" in json.dumps(r) for r in results)


def test_keys_with_many_people_are_released_with_noisy_counts():
    plan = make_plan([count_star()], [COUNT], [GroupBy("city", None), BY_SEX])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal(1), delta=Decimal("1e-6"))
    rows = [("Paris", "Male", 1000), ("Paris", "Female", 900), ("Paris", "Unknown", 800), (None, "Male", 500)]

    results = [prepared.run(rows) for _ in range(50)]

    assert all(
        [row[:2] for row in r["rows"]] == [["Paris", "Female"], ["Paris", "Male"], [None, "Male"]] for r in results
    )
    assert len({r["rows"][1][2] for r in results}) > 1


def test_the_threshold_grows_as_delta_shrinks():
    plan = make_plan([count_star()], [COUNT], [BY_CITY])

    loose, strict = (
        prepare_release(plan, mechanism="laplace", epsilon=Decimal(1), delta=Decimal(delta)).key_release
        for delta in ("1e-3", "1e-9")
    )

    assert loose.threshold < strict.threshold
    assert strict.loss[1] <= 1e-9 and strict.loss[0] <= 1.0


# ---------------------------------------------------------------- no raw value in the answer


def numbers(answer: dict) -> list[float]:
    cells = [v for row in answer["rows"] for v in row]
    bounds = [b for row in answer["ci"] for ci in row if ci is not None for b in ci]
    return [v for v in cells + bounds if isinstance(v, int | float)]


def test_the_answer_holds_no_raw_value_only_noisy_ones():
    plan = make_plan([count_star(), age_sum()], [COUNT, SUM, AVG], [BY_CITY])
    prepared = prepare_release(plan, mechanism="laplace", epsilon=Decimal("0.0001"), delta=Decimal("1e-6"))
    raw = {"Springfield": (1_234_567, 49_382_716), "Shelbyville": (987_654, 39_506_172), "Ogdenville": (1, 33)}
    rows = [(city, *values) for city, values in raw.items()]

    answers = [prepared.run(rows) for _ in range(50)]

    assert all(set(a) == {"columns", "rows", "ci", "mechanism", "notes"} for a in answers)
    assert all([row[0] for row in a["rows"]] == ["Shelbyville", "Springfield"] for a in answers)
    assert not any("Ogdenville" in json.dumps(a) for a in answers)
    for value in (v for values in raw.values() for v in values):
        # a noisy value (scale 20,000) may hit the truth by chance, but not twice in 50 answers
        assert sum(value in numbers(a) for a in answers) <= 1, value
    assert len({a["rows"][1][1] for a in answers}) > 40
