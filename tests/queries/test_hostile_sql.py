"""A corpus of hostile SQL: every query is refused at compile time, with a message naming the rule."""

import re
from collections.abc import Callable

import pytest

from apps.catalog.models import Dataset
from apps.queries.compiler import compile_dp_query, pushdown_sql
from apps.queries.plan import QueryRejected

SECRET = "s3cr3t-v4lue"

CORPUS = [
    # row-level selects
    ("SELECT * FROM adult", "SELECT *"),
    ("select *, count(*) from adult", "SELECT *"),
    ("SELECT adult.* FROM adult", "SELECT *"),
    ("SELECT person_id FROM adult", "Row-level selects"),
    (f"SELECT person_id, age FROM adult WHERE native_country = '{SECRET}'", "Row-level selects"),  # noqa: S608
    ("SELECT age + 1, COUNT(*) FROM adult", "Row-level selects"),
    ("SELECT sex, COUNT(*) FROM adult GROUP BY race", "Row-level selects"),
    ("SELECT COUNT(*), 42 FROM adult", "constant values"),
    ("SELECT COUNT(*) + 1 FROM adult", "Arithmetic on aggregates"),
    # subqueries that pick one row, CTEs, set operations, several statements
    ("SELECT COUNT(*) FROM adult WHERE person_id = (SELECT MIN(person_id) FROM adult)", "Subqueries"),
    ("SELECT (SELECT age FROM adult LIMIT 1) AS a, COUNT(*) FROM adult", "Subqueries"),
    ("SELECT COUNT(*) FROM (SELECT * FROM adult WHERE person_id = 1) AS t", "Subqueries"),
    ("SELECT COUNT(*) FROM adult WHERE age IN (SELECT age FROM adult WHERE person_id = 7)", "Subqueries"),
    ("SELECT COUNT(*) FROM adult WHERE EXISTS (SELECT 1 FROM adult WHERE person_id = 7)", "Subqueries"),
    ("WITH t AS (SELECT * FROM adult) SELECT COUNT(*) FROM t", "WITH"),
    ("SELECT COUNT(*) FROM adult UNION SELECT COUNT(*) FROM adult", "UNION"),
    ("select count(*) from adult union all select age from adult", "UNION"),
    ("SELECT COUNT(*) FROM adult INTERSECT SELECT COUNT(*) FROM adult", "UNION, INTERSECT and EXCEPT"),
    ("SELECT COUNT(*) FROM adult EXCEPT SELECT COUNT(*) FROM adult", "UNION, INTERSECT and EXCEPT"),
    ("SELECT COUNT(*) FROM adult; DROP TABLE adult", "Several statements"),
    ("SELECT COUNT(*) FROM adult; SELECT age FROM adult", "Several statements"),
    # comments, whatever they hide
    ("SELECT COUNT(*) FROM adult -- WHERE age > 30", "Comments are not allowed"),
    ("SELECT COUNT(*) /* hidden */ FROM adult", "Comments are not allowed"),
    ("SELECT COUNT(*) FROM adult WHERE age > 30 /*; DROP TABLE adult */", "Comments are not allowed"),
    (f"SELECT COUNT(*) FROM adult WHERE sex = 'Male' OR native_country = '{SECRET}' --'", "Comments are not allowed"),  # noqa: S608
    ("-- just a comment", "Comments are not allowed"),
    # functions that are not pure: sleeps, randomness, time, files, extensions, the session
    ("SELECT COUNT(*) FROM adult WHERE pg_sleep(10) IS NULL", "function pg_sleep is not allowed"),
    ("SELECT COUNT(*) FROM adult WHERE 1 = 1 OR pg_catalog.pg_sleep(1) IS NULL", "function pg_sleep"),
    ("SELECT COUNT(*) FROM adult WHERE sleep(10) = 0", "function sleep is not allowed"),
    ("SELECT COUNT(*) FROM adult WHERE random() < 0.5", "function RAND is not allowed"),
    ("SELECT COUNT(*) FROM adult WHERE now() > '2020-01-01'", "function now is not allowed"),
    ("SELECT COUNT(*) FROM adult WHERE current_user = 'postgres'", "is not allowed"),
    ("SELECT COUNT(*) FROM adult WHERE LENGTH(pg_read_file('/etc/passwd')) > 0", "function pg_read_file"),
    ("SELECT COUNT(*) FROM adult WHERE load_extension('/tmp/evil.so') IS NULL", "function load_extension"),
    ("SELECT COUNT(*) FROM adult WHERE regexp_matches(sex, '^M')", "is not allowed"),
    ("SELECT COUNT(*) FROM adult WHERE version() IS NOT NULL", "function version"),
    ("SELECT COUNT(*) FROM read_csv('/etc/passwd')", "Table functions"),
    ("SELECT COUNT(*) FROM read_parquet('/var/lib/portal/*.parquet')", "Table functions"),
    # system catalogs and other tables
    ("SELECT COUNT(*) FROM pg_catalog.pg_user", "System catalogs"),
    ("SELECT COUNT(*) FROM pg_shadow", "System catalogs"),
    ("SELECT COUNT(*) FROM information_schema.tables", "System catalogs"),
    ("SELECT COUNT(*) FROM sqlite_master", "System catalogs"),
    ("SELECT COUNT(*) FROM duckdb_settings", "System catalogs"),
    ("SELECT COUNT(*) FROM sales.shop.orders", "Only the dataset hr.census.adult can be queried"),
    ("SELECT COUNT(*) FROM orders", "Only the dataset hr.census.adult can be queried"),
    ("SELECT COUNT(*) FROM adult JOIN orders ON adult.person_id = orders.customer_id", "Joins are not allowed"),
    ("SELECT COUNT(*) FROM adult a, adult b", "Joins are not allowed"),
    ("SELECT COUNT(*) FROM adult CROSS JOIN adult", "Joins are not allowed"),
    ("SELECT COUNT(*) FROM adult a WHERE b.age > 1", "Unknown table or alias b"),
    # window functions, DISTINCT, clauses that are not supported
    ("SELECT COUNT(*) OVER () FROM adult", "Window functions"),
    ("SELECT sex, ROW_NUMBER() OVER (PARTITION BY sex) FROM adult GROUP BY sex", "Window functions"),
    ("SELECT DISTINCT sex, COUNT(*) FROM adult GROUP BY sex", "DISTINCT"),
    ("SELECT COUNT(DISTINCT person_id) FROM adult", "DISTINCT"),
    ("SELECT sex, COUNT(*) FROM adult GROUP BY sex ORDER BY 2 DESC", "ORDER BY"),
    ("SELECT COUNT(*) FROM adult LIMIT 1", "LIMIT"),
    ("SELECT sex, COUNT(*) FROM adult GROUP BY sex HAVING COUNT(*) = 1", "HAVING"),
    ("SELECT sex, COUNT(*) FROM adult GROUP BY ROLLUP (sex)", "ROLLUP"),
    ("SELECT sex, COUNT(*) FROM adult GROUP BY 1", "GROUP BY takes column names"),
    ("SELECT COUNT(*) FROM adult FOR UPDATE", "Locking"),
    ("SELECT COUNT(*) INTO copy FROM adult", "SELECT INTO"),
    ("SELECT MIN(age) FROM adult", "aggregate MIN is not supported"),
    ("SELECT MAX(capital_gain) FROM adult", "aggregate MAX is not supported"),
    # statements that are not SELECT
    ("INSERT INTO adult (person_id) VALUES (1)", "Only SELECT"),
    ("DROP TABLE adult", "Only SELECT"),
    ("COPY adult TO '/tmp/adult.csv'", "Only SELECT"),
    ("PRAGMA table_info(adult)", "Only SELECT"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "Only SELECT"),
    ("SET statement_timeout = 0", "Only SELECT"),
    ("EXPLAIN SELECT COUNT(*) FROM adult", "Only SELECT"),
    ("SELECT 1", "must read FROM the dataset"),
    # identifiers, classifications, declared bounds
    ("SELECT person_id, COUNT(*) FROM adult GROUP BY person_id", "privacy unit column person_id"),
    ("SELECT SUM(person_id) FROM adult", "privacy unit column person_id"),
    ("SELECT SUM(workclass) FROM adult", "not numeric"),
    ("SELECT AVG(fnlwgt2) FROM adult", "Unknown column fnlwgt2"),
    ("SELECT COUNT(*) FROM adult WHERE salary_band = 1", "Unknown column salary_band"),
    ('SELECT COUNT(*) FROM adult WHERE "Age" > 1', "Unknown column Age"),
    ("SELECT SUM(age * 2) FROM adult", "SUM takes a column name"),
    # predicates that could fail on one row only, or that the engines read differently
    ("SELECT COUNT(*) FROM adult WHERE CAST(workclass AS INTEGER) = 1", "CAST is only allowed"),
    ("SELECT COUNT(*) FROM adult WHERE SUBSTR(sex, 1, -1) = ''", "must not be negative"),
    ("SELECT COUNT(*) FROM adult WHERE sex LIKE 'M\\'", "backslash needs an ESCAPE"),
    ("SELECT COUNT(*) FROM adult WHERE sex LIKE 'M!' ESCAPE '!'", "must not end with its escape"),
    ("SELECT COUNT(*) FROM adult WHERE sex LIKE sex", "LIKE takes a pattern in quotes"),
    ("SELECT COUNT(*) FROM adult WHERE sex > 5", "compares a text with a number"),
    ("SELECT COUNT(*) FROM adult WHERE sex + 1 > 5", "Arithmetic needs a number"),
    ("SELECT COUNT(*) FROM adult WHERE age", "WHERE needs a condition"),
    ("SELECT COUNT(*) FROM adult WHERE age = 99999999999999999999", "64-bit range"),
    ("SELECT COUNT(*) FROM adult WHERE age > 1e400", "out of range"),
    ("SELECT COUNT(*) FROM adult WHERE age > $1", "Parameters"),
    ("SELECT COUNT(*) FROM adult WHERE age > ?", "Parameters"),
    ("SELECT COUNT(*) FROM adult WHERE age > :age", "Parameters"),
    # what the parser itself must survive
    ("", "empty"),
    ("   \n\t ", "empty"),
    (";", "empty"),
    ("SELECT COUNT(*) FROM adult WHERE age = 1\x00; DROP TABLE adult", "control characters"),
    ("SELECT COUNT(*) FROM adult WHERE " + "(" * 10_000 + "age > 1" + ")" * 10_000, "too long"),
    ("SELECT COUNT(*) FROM adult WHERE " + "(" * 17 + "age > 1" + ")" * 17, "nested too deeply"),
    ("SELECT COUNT(*) FROM adult WHERE " + "NOT " * 41 + "age > 1", "nested too deeply"),
    ("SELECT COUNT(*) FROM adult WHERE " + "NOT " * 3_000 + "age > 1", "nested too deeply"),
    ("SELECT COUNT(*) FROM adult WHERE age > " + "- " * 5_000 + "1", "nested too deeply"),
    ("SELECT COUNT(*) FROM adult WHERE age IN (" + ", ".join(["1"] * 1_500) + ")", "IN list is too long"),  # noqa: S608
    ("SELECT COUNT(*) FROM adult WHERE age IN (" + ", ".join(["1"] * 10_000) + ")", "too long"),  # noqa: S608
    ("SELECT COUNT(*) FROM adult WHERE \uff41\uff47\uff45 > 1", "Unknown column"),
    ("SELECT COUNT(*) FROM adult WHERE age\u200b > 1", "Unknown column"),
    ("SELECT COUNT(*) FROM adult WHERE \u202eage > 1", "Unknown column"),
    ("SELECT COUNT(*) FROM adult WHERE age > 1 AND (", "not valid SQL"),
    ("SELECT COUNT(*) FROM adult WHERE sex = 'unterminated", "not valid SQL"),
    ("SELECT COUNT(*) FROM adult WHERE sex = 'Male\x85'", "control characters"),
    ("SELECT COUNT(*) FROM adult WHERE (age > 1) XOR (age < 5)", "not valid SQL"),
]


def _id(index: int, sql: str) -> str:
    return f"{index:03d}-" + "".join(ch if ch.isascii() and ch.isprintable() else "?" for ch in sql[:50])


@pytest.mark.parametrize(("sql", "rule"), CORPUS, ids=[_id(i, sql) for i, (sql, _) in enumerate(CORPUS)])
def test_it_refuses_hostile_sql_at_compile_time_naming_the_rule(adult: Dataset, sql: str, rule: str) -> None:
    with pytest.raises(QueryRejected) as refused:
        compile_dp_query(sql, dataset=adult)
    assert rule.lower() in refused.value.message.lower()
    assert refused.value.status_code == 400 and refused.value.code == "query_rejected"


def test_the_corpus_has_more_than_forty_queries() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize(("sql", "rule"), [c for c in CORPUS if SECRET in c[0]])
def test_a_refusal_never_repeats_a_literal_of_the_query(adult: Dataset, sql: str, rule: str) -> None:
    with pytest.raises(QueryRejected) as refused:
        compile_dp_query(sql, dataset=adult)
    assert SECRET not in refused.value.message


def test_a_name_shown_in_a_refusal_is_printable_and_short(adult: Dataset) -> None:
    with pytest.raises(QueryRejected) as refused:
        compile_dp_query('SELECT COUNT(*) FROM adult WHERE "a\u202eb' + "x" * 500 + '" = 1', dataset=adult)
    assert "\u202e" not in refused.value.message
    assert len(refused.value.message) < 200


def test_sum_on_a_column_without_declared_bounds_asks_to_declare_them(adult: Dataset) -> None:
    adult.columns.filter(name="capital_gain").update(upper_bound=None)
    with pytest.raises(QueryRejected, match="Declare bounds for capital_gain"):
        compile_dp_query("SELECT AVG(capital_gain) FROM adult", dataset=adult)


def test_a_dataset_without_privacy_unit_takes_no_query(adult: Dataset) -> None:
    adult.privacy_unit_column = ""
    with pytest.raises(QueryRejected, match="declares no privacy unit"):
        compile_dp_query("SELECT COUNT(*) FROM adult", dataset=adult)


def test_identifier_columns_are_neither_grouped_nor_summed(adult: Dataset) -> None:
    column = adult.columns.get(name="fnlwgt")
    column.classification = "identifier"
    column.save()
    with pytest.raises(QueryRejected, match="identifier column fnlwgt"):
        compile_dp_query("SELECT fnlwgt, COUNT(*) FROM adult GROUP BY fnlwgt", dataset=adult)
    with pytest.raises(QueryRejected, match="identifier column fnlwgt"):
        compile_dp_query("SELECT SUM(fnlwgt) FROM adult", dataset=adult)


def test_keywords_in_any_case_and_odd_unicode_in_literals_are_fine(adult: Dataset) -> None:
    country = "'Côte d\u2019Ivoire \u202e'"
    lower = compile_dp_query(f"select count(*) from adult where native_country = {country}", dataset=adult)  # noqa: S608
    upper = compile_dp_query(f"SELECT COUNT(*) FROM ADULT WHERE NATIVE_COUNTRY = {country}", dataset=adult)  # noqa: S608
    assert lower.normalized_sql == upper.normalized_sql


def _deep(frames: int, call: Callable[[], object]) -> object:
    return call() if frames == 0 else _deep(frames - 1, call)


def test_the_deepest_queries_allowed_compile_and_push_down_under_a_deep_caller(adult: Dataset) -> None:
    deepest = [
        "SELECT COUNT(*) FROM adult WHERE " + "(" * 16 + "age > 1" + ")" * 16,
        "SELECT COUNT(*) FROM adult WHERE " + "ABS(" * 15 + "age" + ")" * 15 + " > 1",
        "SELECT COUNT(*) FROM adult WHERE " + "NOT " * 35 + "age > 1",
        "SELECT COUNT(*) FROM adult WHERE " + " OR ".join(["age = 1 AND sex = 'x'"] * 500),  # noqa: S608
    ]
    for sql in deepest:
        plan = _deep(400, lambda sql=sql: compile_dp_query(sql, dataset=adult))
        assert _deep(400, lambda plan=plan: pushdown_sql(plan, dialect="postgresql"))


def test_non_text_input_is_refused_not_crashed_on(adult: Dataset) -> None:
    for value in (None, b"SELECT COUNT(*) FROM adult", 42):
        with pytest.raises(QueryRejected, match=re.compile("empty", re.I)):
            compile_dp_query(value, dataset=adult)  # type: ignore[arg-type]
