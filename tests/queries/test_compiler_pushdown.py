"""The pushdown SQL runs, and is right, on real SQLite, DuckDB and PostgreSQL tables."""

from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from apps.catalog.models import Column, Dataset
from apps.domains.connectors import connector_for
from apps.domains.models import Backend
from apps.queries.compiler import compile_dp_query, dialect_for, pushdown_sql
from tests.factories import ColumnFactory, DatasetFactory
from tests.queries.conftest import KINDS

AdultCopy = Callable[[str, Sequence[dict[str, Any]]], Backend]

PEOPLE = [
    # person 1 has 50 identical rows: with k rows per person, the 50 count as k
    *[{"person_id": 1, "sex": "Male", "age": 40, "race": "White", "workclass": "Private"} for _ in range(50)],
    {"person_id": 2, "sex": "Female", "age": 150, "race": "Black", "workclass": None},  # age clamped to 90
    {"person_id": 3, "sex": "Female", "age": 5, "race": "White", "workclass": "State-gov"},  # age clamped to 17
    {"person_id": 4, "sex": "Other", "age": 30, "race": "White", "workclass": "Private"},  # undeclared key
    {"person_id": 5, "sex": None, "age": 30, "race": "Other", "workclass": "Private"},  # NULL key
    {"person_id": 6, "sex": "Male", "age": None, "race": "Asian-Pac-Islander", "workclass": None},
]


def run(backend: Backend, sql: str, params: dict[str, Any]) -> list[tuple]:
    with connector_for(backend) as connector:
        rows = connector.fetch_aggregates(sql, params, max_rows=10_000)
    return sorted((tuple(int(v) if isinstance(v, Decimal) else v for v in row) for row in rows),
                  key=lambda row: tuple((v is None, str(v)) for v in row))  # fmt: skip


def answer(dataset: Dataset, backend: Backend, query: str) -> list[tuple]:
    plan = compile_dp_query(query, dataset=dataset)
    sql, params = pushdown_sql(plan, dialect=dialect_for(backend))
    return run(backend, sql, params)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def test_it_counts_sums_and_averages_per_declared_group_with_each_person_counted_once(
    adult: Dataset, adult_copy: AdultCopy, kind: str
) -> None:
    backend = adult_copy(kind, PEOPLE)
    rows = answer(adult, backend, "SELECT sex, COUNT(*), SUM(age), AVG(age), COUNT(workclass) FROM adult GROUP BY sex")
    # columns: sex, count, sum_age, count_age, count_workclass
    assert rows == [("Female", 2, 90 + 17, 2, 1), ("Male", 2, 40, 1, 1)]


def test_a_person_with_fifty_rows_counts_as_k_rows(adult: Dataset, adult_copy: AdultCopy, kind: str) -> None:
    adult.max_rows_per_unit = 3
    adult.save()
    backend = adult_copy(kind, PEOPLE)
    assert answer(adult, backend, "SELECT COUNT(*) FROM adult") == [(3 + 5,)]
    assert answer(adult, backend, "SELECT COUNT(*), SUM(age) FROM adult WHERE sex = 'Male'") == [(4, 120)]


def test_without_group_by_every_person_counts_even_with_an_undeclared_or_null_sex(
    adult: Dataset, adult_copy: AdultCopy, kind: str
) -> None:
    backend = adult_copy(kind, PEOPLE)
    assert answer(adult, backend, "SELECT COUNT(*), COUNT(sex), SUM(age) FROM adult") == [
        (6, 5, 40 + 90 + 17 + 30 + 30)
    ]


def test_the_rows_kept_for_a_person_are_the_same_on_every_engine(
    adult: Dataset, adult_copy: AdultCopy, kind: str
) -> None:
    adult.max_rows_per_unit = 2
    adult.save()
    rows = [{"person_id": 9, "sex": "Female", "age": age} for age in (60, 20, 50, 30, 40)]
    backend = adult_copy(kind, rows)
    assert answer(adult, backend, "SELECT COUNT(*), SUM(age) FROM adult") == [(2, 20 + 30)]


def test_an_empty_selection_gives_zero_without_groups_and_no_row_per_group(
    adult: Dataset, adult_copy: AdultCopy, kind: str
) -> None:
    backend = adult_copy(kind, PEOPLE)
    assert answer(adult, backend, "SELECT COUNT(*), SUM(age) FROM adult WHERE age > 1000") == [(0, 0)]
    assert answer(adult, backend, "SELECT sex, COUNT(*) FROM adult WHERE age > 1000 GROUP BY sex") == []


def test_undeclared_keys_come_back_as_text_with_null_as_a_key(adult: Dataset, adult_copy: AdultCopy, kind: str) -> None:
    backend = adult_copy(kind, PEOPLE)
    rows = answer(adult, backend, "SELECT age, COUNT(*) FROM adult GROUP BY age")
    assert rows == [("150", 1), ("30", 2), ("40", 1), ("5", 1), (None, 1)]


WHERE_CASES = [
    ("age BETWEEN 20 AND 40", {1, 4, 5}),
    ("age IN (5, 150) OR race IN ('Other')", {2, 3, 5}),
    ("NOT (sex = 'Male') AND workclass IS NOT NULL", {3, 4}),
    ("workclass IS NULL", {2, 6}),
    ("LOWER(race) LIKE 'wh%'", {1, 3, 4}),
    ("race ILIKE 'WH%'", {1, 3, 4}),
    ("race NOT LIKE '%e'", {2, 5, 6}),
    ("workclass LIKE 'State!-%' ESCAPE '!'", {3}),
    ("age / 2 = 15", {4, 5}),
    ("age % 7 = 2", {4, 5}),
    ("(age + 10) * 2 - 1 > 99", {2}),
    ("-age < -100", {2}),
    ("CASE WHEN sex = 'Male' THEN 1 WHEN sex IS NULL THEN 2 ELSE 0 END > 0", {1, 5, 6}),
    ("CASE sex WHEN 'Female' THEN age ELSE 0 END > 100", {2}),
    ("COALESCE(sex, 'none') = 'none'", {5}),
    ("NULLIF(race, 'White') IS NULL", {1, 3, 4}),
    ("UPPER(SUBSTR(race, 1, 2)) = 'AS'", {6}),
    ("LENGTH(TRIM(race)) = 5", {1, 2, 3, 4, 5}),
    ("ABS(age - 100) <= 60", {1, 2}),
    ("ROUND(age / 4, 1) = 7.5", {4, 5}),
    ("FLOOR(age / 4) = 7 AND CEIL(age / 4) = 8", {4, 5}),
    ("SIGN(age - 30) = 0", {4, 5}),
    ("CAST(age AS TEXT) = '30'", {4, 5}),
    ("race || '/' || sex = 'White/Female'", {3}),
    ("sex = 'it''s'", set()),
    ("age = NULL", set()),
    ("(sex = 'Male') IS TRUE", {1, 6}),
    ("'a' = 'a' AND age > 100", {2}),
    ("CASE WHEN age > 100 THEN 'old' ELSE 'young' END = 'old'", {2}),
]


@pytest.mark.parametrize(("where", "people"), WHERE_CASES, ids=[w for w, _ in WHERE_CASES])
def test_the_where_of_the_analyst_selects_the_same_people_on_every_engine(
    adult: Dataset, adult_copy: AdultCopy, kind: str, where: str, people: set[int]
) -> None:
    backend = adult_copy(kind, PEOPLE)
    expected = len(people)
    assert answer(adult, backend, f"SELECT COUNT(*) FROM adult WHERE {where}") == [(expected,)]  # noqa: S608


TOTAL_CASES = [
    "age / (age - 40) > 0",
    "age % (age - 30) = 0",
    "age * 9223372036854775807 > 1",
    "age + 9223372036854775807 > 1",
    "-age * 9223372036854775807 < 0",
    "ABS(age * -9223372036854775807) > 0",
    "ROUND(age * 1e300 * 1e300, 2) > 0",
    "FLOOR(age * 1e300 * 1e300) > 0",
    "SUBSTR(race, 3, 0) = ''",
]


@pytest.mark.parametrize("where", TOTAL_CASES)
def test_predicates_that_fail_on_some_rows_elsewhere_run_on_every_row(
    adult: Dataset, adult_copy: AdultCopy, kind: str, where: str
) -> None:
    backend = adult_copy(kind, PEOPLE)
    rows = answer(adult, backend, f"SELECT COUNT(*) FROM adult WHERE {where}")  # noqa: S608
    assert len(rows) == 1 and isinstance(rows[0][0], int)


@pytest.fixture
def payroll(hr: Any) -> Dataset:
    """A dataset with a float column and an integer column with declared categories."""
    dataset = DatasetFactory(domain=hr, table_name="payroll", address="hr.census.payroll",
                             privacy_unit_column="employee_id", max_rows_per_unit=2)  # fmt: skip
    ColumnFactory(dataset=dataset, name="employee_id", position=0)
    ColumnFactory(dataset=dataset, name="grade", position=1, categories=[1, 2, "3"])
    ColumnFactory(dataset=dataset, name="salary", position=2, logical_type=Column.LogicalType.FLOAT,
                  data_type="DOUBLE", lower_bound=Decimal("-0.5"), upper_bound=Decimal("1000.25"))  # fmt: skip
    ColumnFactory(dataset=dataset, name="hired_on", position=3, logical_type=Column.LogicalType.DATE, data_type="DATE")
    return dataset


PAYROLL = [
    {"employee_id": 1, "grade": 1, "salary": 100.125, "hired_on": "2020-01-01"},
    {"employee_id": 1, "grade": 2, "salary": 5000.0, "hired_on": "2020-01-01"},  # salary clamped to 1000.25
    {"employee_id": 1, "grade": 3, "salary": 1.0, "hired_on": "2020-01-01"},  # third row of employee 1: dropped
    {"employee_id": 2, "grade": 3, "salary": -7.0, "hired_on": "2021-06-30"},  # clamped to -0.5
    {"employee_id": 3, "grade": 4, "salary": 10.0, "hired_on": "2022-02-02"},  # undeclared grade
    {"employee_id": 4, "grade": None, "salary": None, "hired_on": None},
]


def test_float_sums_are_exact_in_fixed_point_with_clamping_and_integer_keys(
    payroll: Dataset, table_copy: Callable[..., Backend], kind: str
) -> None:
    backend = table_copy(payroll, kind, PAYROLL)
    plan = compile_dp_query("SELECT grade, COUNT(*), SUM(salary), AVG(salary) FROM payroll GROUP BY grade",
                            dataset=payroll)  # fmt: skip
    [total] = [m for m in plan.measures if m.kind == "sum"]
    sql, params = pushdown_sql(plan, dialect=dialect_for(backend))
    rows = run(backend, sql, params)
    # employee 1 keeps the rows of grades 1 and 2 (the smallest two grades), drops the third
    assert [(g, c, s / 2**total.scale, n) for g, c, s, n in rows] == [
        ("1", 1, 100.125, 1), ("2", 1, 1000.25, 1), ("3", 1, -0.5, 1)
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_nan_and_infinity_are_clamped_like_any_value(
    payroll: Dataset, table_copy: Callable[..., Backend], kind: str
) -> None:
    rows = [{"employee_id": 1, "salary": float("nan")}, {"employee_id": 2, "salary": float("inf")},
            {"employee_id": 3, "salary": float("-inf")}]  # fmt: skip
    backend = table_copy(payroll, kind, rows)
    plan = compile_dp_query("SELECT SUM(salary) FROM payroll", dataset=payroll)
    sql, params = pushdown_sql(plan, dialect=kind)
    [(total,)] = run(backend, sql, params)
    assert total / 2 ** plan.measures[0].scale == 1000.25 + 1000.25 - 0.5


def test_clamped_values_of_32_bits_sum_beyond_32_bits_exactly(
    payroll: Dataset, table_copy: Callable[..., Backend], kind: str
) -> None:
    ColumnFactory(dataset=payroll, name="bonus", position=4, lower_bound=Decimal(-(2**31 - 1)),
                  upper_bound=Decimal(2**31 - 1))  # fmt: skip
    payroll.max_rows_per_unit = 3
    payroll.save()
    rows = [{"employee_id": 1, "bonus": 2**40}, {"employee_id": 1, "bonus": 2**31 - 1},
            {"employee_id": 2, "bonus": 2**62}]  # fmt: skip
    backend = table_copy(payroll, kind, rows)
    assert answer(payroll, backend, "SELECT SUM(bonus) FROM payroll") == [(3 * (2**31 - 1),)]


def test_dates_compare_with_text_literals(payroll: Dataset, table_copy: Callable[..., Backend], kind: str) -> None:
    backend = table_copy(payroll, kind, PAYROLL)
    assert answer(payroll, backend, "SELECT COUNT(*) FROM payroll WHERE hired_on >= '2021-01-01'") == [(2,)]


def test_without_bounding_window_the_answer_is_the_same_when_each_person_has_one_row(
    adult: Dataset, adult_copy: AdultCopy, kind: str
) -> None:
    backend = adult_copy(kind, PEOPLE[49:])
    plan = compile_dp_query("SELECT sex, COUNT(*), SUM(age) FROM adult WHERE age > 10 GROUP BY sex", dataset=adult)
    sql, params = pushdown_sql(replace(plan, unit_unique=True), dialect=kind)
    assert run(backend, sql, params) == [("Female", 1, 90), ("Male", 1, 40)]
    assert answer(adult, backend, "SELECT sex, COUNT(*), SUM(age) FROM adult WHERE age > 10 GROUP BY sex") == [
        ("Female", 1, 90), ("Male", 1, 40)
    ]  # fmt: skip


def test_every_answer_has_the_group_columns_then_the_measures_named_as_in_the_plan(
    adult: Dataset, adult_copy: AdultCopy
) -> None:
    backend = adult_copy("duckdb", PEOPLE)
    plan = compile_dp_query("SELECT AVG(age) AS mean, sex, race FROM adult GROUP BY race, sex", dataset=adult)
    sql, params = pushdown_sql(plan, dialect="duckdb")
    with connector_for(backend) as connector, connector.engine.connect() as conn:  # type: ignore[attr-defined]
        import sqlalchemy as sa

        result = conn.execute(sa.text(sql), params)
        assert list(result.keys()) == ["race", "sex", "sum_age", "count_age"]
