"""What a query compiles to: outputs, measures, sensitivities, keys, normalized SQL, pushdown shape."""

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from apps.catalog.models import Column, Dataset
from apps.domains.models import Backend
from apps.queries.compiler import compile_dp_query, dialect_for, pushdown_sql
from apps.queries.plan import GroupBy, Measure, OutputColumn, QueryPlan, QueryRejected
from tests.factories import BackendFactory, ColumnFactory
from tests.queries.conftest import ADULT_COLUMN_NAMES


def test_the_adult_fixture_has_the_sixteen_columns_of_the_demo(adult: Dataset) -> None:
    assert list(adult.columns.values_list("name", flat=True)) == list(ADULT_COLUMN_NAMES)
    assert len(ADULT_COLUMN_NAMES) == 16


def test_a_grouped_query_gives_outputs_measures_and_sensitivities_from_the_declarations(adult: Dataset) -> None:
    adult.max_rows_per_unit = 3
    plan = compile_dp_query(
        "SELECT sex, COUNT(*), SUM(age), AVG(age) AS mean_age, COUNT(workclass) FROM adult GROUP BY sex",
        dataset=adult,
    )
    assert plan.outputs == (
        OutputColumn("sex", "group", "sex"),
        OutputColumn("count", "count", None, ("count",)),
        OutputColumn("sum_age", "sum", "age", ("sum_age",)),
        OutputColumn("mean_age", "avg", "age", ("sum_age", "count_age")),
        OutputColumn("count_workclass", "count", "workclass", ("count_workclass",)),
    )
    assert plan.measures == (
        Measure("count", "count", None, l1_sensitivity=Decimal(3), l2_sensitivity=Decimal(3)),
        Measure("sum_age", "sum", "age", lower=Decimal(17), upper=Decimal(90), integer=True, scale=0,
                l1_sensitivity=Decimal(270), l2_sensitivity=Decimal(270)),
        Measure("count_age", "count", "age", l1_sensitivity=Decimal(3), l2_sensitivity=Decimal(3)),
        Measure("count_workclass", "count", "workclass", l1_sensitivity=Decimal(3), l2_sensitivity=Decimal(3)),
    )  # fmt: skip
    assert plan.group_by == (GroupBy("sex", ("Female", "Male"), "string"),)
    assert (plan.privacy_unit, plan.max_rows_per_unit, plan.dataset_address) == ("person_id", 3, "hr.census.adult")
    assert not plan.needs_key_release


def test_identical_measures_of_several_outputs_are_computed_once(adult: Dataset) -> None:
    plan = compile_dp_query("SELECT SUM(age), AVG(age), COUNT(age), AVG(age) AS again FROM adult", dataset=adult)
    assert [m.name for m in plan.measures] == ["sum_age", "count_age"]


def test_a_column_without_declared_categories_needs_a_key_release(adult: Dataset) -> None:
    plan = compile_dp_query("SELECT education_num, race, COUNT(*) FROM adult GROUP BY education_num, race",
                            dataset=adult)  # fmt: skip
    assert plan.group_by == (GroupBy("education_num", None, "integer"), GroupBy("race", tuple(
        ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"]), "string"))  # fmt: skip
    assert plan.needs_key_release


def test_float_sums_use_the_largest_scale_that_cannot_overflow(adult: Dataset) -> None:
    ColumnFactory(dataset=adult, name="income", logical_type=Column.LogicalType.FLOAT,
                  lower_bound=Decimal("-0.5"), upper_bound=Decimal("1000.25"))  # fmt: skip
    plan = compile_dp_query("SELECT SUM(income) FROM adult", dataset=adult)
    [measure] = plan.measures
    assert (measure.integer, measure.scale, measure.lower, measure.upper) == (False, 21, Decimal("-0.5"),
                                                                               Decimal("1000.25"))  # fmt: skip
    assert measure.l1_sensitivity == measure.l2_sensitivity == Decimal(1000.25 * 2**21)
    assert measure.l1_sensitivity < 2**31 <= measure.l1_sensitivity * 2


def test_integer_bounds_are_rounded_inwards(adult: Dataset) -> None:
    adult.columns.filter(name="hours_per_week").update(lower_bound=Decimal("0.5"), upper_bound=Decimal("40.7"))
    [measure] = compile_dp_query("SELECT SUM(hours_per_week) FROM adult", dataset=adult).measures
    assert (measure.lower, measure.upper, measure.l1_sensitivity) == (Decimal(1), Decimal(40), Decimal(40))


@pytest.mark.parametrize(
    ("logical", "lower", "upper", "rule"),
    [
        ("integer", "0", str(2**31), "too wide for an exact sum"),
        ("integer", str(-(2**31)), "0", "too wide for an exact sum"),
        ("float", "0", "1e10", "too wide for an exact sum"),
        ("integer", "0.2", "0.8", "hold no integer"),
    ],
)
def test_bounds_that_cannot_give_an_exact_sum_are_refused(
    adult: Dataset, logical: str, lower: str, upper: str, rule: str
) -> None:
    ColumnFactory(dataset=adult, name="amount", logical_type=logical, lower_bound=Decimal(lower),
                  upper_bound=Decimal(upper))  # fmt: skip
    with pytest.raises(QueryRejected, match=rule):
        compile_dp_query("SELECT SUM(amount) FROM adult", dataset=adult)


def test_the_widest_bounds_allowed_keep_a_sum_of_two_billion_rows_within_64_bits(adult: Dataset) -> None:
    ColumnFactory(dataset=adult, name="amount", lower_bound=Decimal(-(2**31 - 1)), upper_bound=Decimal(2**31 - 1))
    [measure] = compile_dp_query("SELECT SUM(amount) FROM adult", dataset=adult).measures
    assert measure.l1_sensitivity * 2**31 <= 2**63 - 1


@pytest.mark.parametrize(
    "variant",
    [
        "select sex, count(*), avg(age) from adult where age > 30 and race = 'White' group by sex",
        "SELECT  sex ,COUNT( * ) ,AVG( AGE )\n FROM ADULT\tWHERE Age>30 AND Race='White' GROUP BY Sex",
        "SELECT a.sex, COUNT(*) AS count, AVG(a.age) AS avg_age FROM hr.census.adult AS a "
        "WHERE a.age > 30 AND a.race = 'White' GROUP BY a.sex",
        'SELECT "sex" AS "sex", COUNT(*) AS "count", AVG("age") AS "avg_age" FROM "adult" '
        'WHERE "age" > 30 AND "race" = \'White\' GROUP BY "sex"',
    ],
)
def test_whitespace_case_aliases_and_default_names_normalize_to_one_string(adult: Dataset, variant: str) -> None:
    reference = compile_dp_query(
        "SELECT sex, COUNT(*), AVG(age) FROM adult WHERE age > 30 AND race = 'White' GROUP BY sex", dataset=adult
    )
    assert compile_dp_query(variant, dataset=adult).normalized_sql == reference.normalized_sql


def test_the_normalized_sql_compiles_to_itself(adult: Dataset) -> None:
    plan = compile_dp_query("select sex, sum(age) as total from adult a where a.age between 20 and -(-40) "
                            "or lower(race) like 'wh%' group by sex", dataset=adult)  # fmt: skip
    again = compile_dp_query(plan.normalized_sql, dataset=adult)
    assert again == plan


@pytest.mark.parametrize(
    "other",
    [
        "SELECT sex, COUNT(*), AVG(age) FROM adult WHERE age > 31 AND race = 'White' GROUP BY sex",
        "SELECT sex, COUNT(*), AVG(age) FROM adult WHERE age > 30 AND race = 'white' GROUP BY sex",
        "SELECT sex, COUNT(*) AS n, AVG(age) FROM adult WHERE age > 30 AND race = 'White' GROUP BY sex",
        "SELECT sex, COUNT(*), SUM(age) FROM adult WHERE age > 30 AND race = 'White' GROUP BY sex",
    ],
)
def test_a_different_query_normalizes_to_a_different_string(adult: Dataset, other: str) -> None:
    reference = compile_dp_query(
        "SELECT sex, COUNT(*), AVG(age) FROM adult WHERE age > 30 AND race = 'White' GROUP BY sex", dataset=adult
    )
    assert compile_dp_query(other, dataset=adult).normalized_sql != reference.normalized_sql


def test_a_plan_survives_a_round_trip_through_json(adult: Dataset) -> None:
    ColumnFactory(dataset=adult, name="income", logical_type=Column.LogicalType.FLOAT,
                  lower_bound=Decimal("0"), upper_bound=Decimal("0.001"))  # fmt: skip
    adult.table_schema = "public"
    plan = compile_dp_query(
        "SELECT sex, age, COUNT(*), AVG(income) FROM adult WHERE native_country IN ('Cuba') GROUP BY sex, age",
        dataset=adult,
    )
    stored = json.loads(json.dumps(plan.to_json()))
    assert QueryPlan.from_json(stored) == plan
    assert pushdown_sql(QueryPlan.from_json(stored), dialect="postgresql") == pushdown_sql(plan, dialect="postgresql")


def test_output_names_follow_sql_case_rules_and_must_differ(adult: Dataset) -> None:
    plan = compile_dp_query('SELECT COUNT(*) AS Total, SUM(age) AS "Sum Of Ages" FROM adult', dataset=adult)
    assert [o.name for o in plan.outputs] == ["total", "Sum Of Ages"]
    with pytest.raises(QueryRejected, match="Two outputs are named n"):
        compile_dp_query("SELECT COUNT(*) AS n, SUM(age) AS N FROM adult", dataset=adult)


def test_the_dataset_is_named_by_its_table_its_schema_and_table_or_its_address(adult: Dataset) -> None:
    adult.table_schema = "public"
    for source in ("adult", "public.adult", "hr.census.adult", '"hr"."census"."adult"', "ADULT x"):
        assert compile_dp_query(f"SELECT COUNT(*) FROM {source}", dataset=adult).normalized_sql == (  # noqa: S608
            'SELECT COUNT(*) AS "count" FROM "adult"'
        )
    with pytest.raises(QueryRejected, match="Unknown table or alias adult"):
        compile_dp_query("SELECT COUNT(*) FROM adult AS a WHERE adult.age > 1", dataset=adult)
    adult.address = "hr.census.public.adult"
    plan = compile_dp_query("SELECT COUNT(*) FROM hr.census.public.adult WHERE adult.age > 1", dataset=adult)
    assert plan.normalized_sql == 'SELECT COUNT(*) AS "count" FROM "adult" WHERE "age" > 1'


def test_a_quoted_name_must_match_exactly_and_an_unquoted_one_in_any_case(adult: Dataset) -> None:
    assert compile_dp_query("SELECT SUM(AGE) FROM adult", dataset=adult).measures[0].column == "age"
    with pytest.raises(QueryRejected, match="Unknown column AGE"):
        compile_dp_query('SELECT SUM("AGE") FROM adult', dataset=adult)


def test_a_removed_column_does_not_exist_any_more(adult: Dataset) -> None:
    adult.columns.filter(name="race").update(removed_at="2025-01-01T00:00:00Z")
    with pytest.raises(QueryRejected, match="Unknown column race"):
        compile_dp_query("SELECT COUNT(*) FROM adult WHERE race = 'White'", dataset=adult)


def test_grouping_on_a_float_column_without_categories_is_refused(adult: Dataset) -> None:
    ColumnFactory(dataset=adult, name="income", logical_type=Column.LogicalType.FLOAT)
    with pytest.raises(QueryRejected, match="GROUP BY income is not supported"):
        compile_dp_query("SELECT income, COUNT(*) FROM adult GROUP BY income", dataset=adult)


def test_every_group_by_column_must_be_selected(adult: Dataset) -> None:
    with pytest.raises(QueryRejected, match="Select the GROUP BY column sex too"):
        compile_dp_query("SELECT COUNT(*) FROM adult GROUP BY sex", dataset=adult)


def test_the_pushdown_binds_every_literal_of_the_analyst_as_a_parameter(adult: Dataset) -> None:
    hostile = "x'); DROP TABLE adult; --"
    plan = compile_dp_query("SELECT COUNT(*) FROM adult WHERE workclass = 'x''); DROP TABLE adult; --'", dataset=adult)
    for dialect in ("postgresql", "sqlite", "duckdb"):
        sql, params = pushdown_sql(plan, dialect=dialect)
        assert "DROP" not in sql and "--" not in sql
        assert list(params.values()) == [hostile]


def test_the_pushdown_names_the_table_from_the_catalog(adult: Dataset) -> None:
    adult.table_schema = 'we"ird'
    plan = compile_dp_query("SELECT COUNT(*) FROM adult", dataset=adult)
    sql, _ = pushdown_sql(plan, dialect="postgresql")
    assert 'FROM "we""ird"."adult"' in sql


def test_the_pushdown_refuses_a_plan_whose_where_was_tampered_with(adult: Dataset) -> None:
    plan = compile_dp_query("SELECT COUNT(*) FROM adult WHERE age > 1", dataset=adult)
    tampered = replace(plan, normalized_sql=plan.normalized_sql.replace(
        '"age" > 1', '"age" > (SELECT MAX("age") FROM "other")'))  # fmt: skip
    with pytest.raises(QueryRejected, match="stored plan is not valid"):
        pushdown_sql(tampered, dialect="sqlite")
    with pytest.raises(ValueError, match="dialect"):
        pushdown_sql(plan, dialect="mysql")


def test_a_dataset_with_one_row_per_unit_guaranteed_needs_no_bounding_window(adult: Dataset) -> None:
    plan = compile_dp_query("SELECT sex, COUNT(*) FROM adult WHERE age > 30 GROUP BY sex", dataset=adult)
    assert not plan.unit_unique
    assert "ROW_NUMBER" in pushdown_sql(plan, dialect="postgresql")[0]
    assert "ROW_NUMBER" not in pushdown_sql(replace(plan, unit_unique=True), dialect="postgresql")[0]
    assert "ROW_NUMBER" in pushdown_sql(replace(plan, unit_unique=True, max_rows_per_unit=2), dialect="postgresql")[0]


def test_compiling_never_needs_the_backend(adult: Dataset) -> None:
    assert adult.backend is None
    assert compile_dp_query("SELECT COUNT(*) FROM adult", dataset=adult).measures


@pytest.mark.parametrize(
    ("kind", "url", "dialect"),
    [
        (Backend.Kind.POSTGRESQL, "postgresql://db/hr", "postgresql"),
        (Backend.Kind.SQLITE, "/data/hr.sqlite3", "sqlite"),
        (Backend.Kind.DUCKDB, "/data/hr.duckdb", "duckdb"),
        (Backend.Kind.DUCKDB_FOLDER, "/data/files", "duckdb"),
        (Backend.Kind.SQLALCHEMY, "postgresql+psycopg://db/hr", "postgresql"),
        (Backend.Kind.SQLALCHEMY, "duckdb:///data/x.duckdb", "duckdb"),
    ],
)
def test_each_backend_kind_has_its_dialect(hr: object, kind: str, url: str, dialect: str) -> None:
    assert dialect_for(BackendFactory(domain=hr, kind=kind, url=url)) == dialect


def test_a_backend_the_pushdown_cannot_write_for_is_refused(hr: object) -> None:
    with pytest.raises(QueryRejected, match="PostgreSQL, SQLite and DuckDB"):
        dialect_for(BackendFactory(domain=hr, kind=Backend.Kind.SQLALCHEMY, url="mysql://db/hr"))
    with pytest.raises(QueryRejected, match="no backend"):
        dialect_for(None)
