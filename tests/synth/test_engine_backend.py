"""Counts computed in the backend (PostgreSQL, SQLite, DuckDB) equal the in-memory ones, per-unit bound."""

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from apps.catalog.models import Column, Dataset
from apps.domains.models import Sensitivity
from apps.synth.engine import FrameSource, SynthRefused, backend_source, encoding_for, synthesize
from apps.synth.engine.mst import candidate_pairs
from tests.factories import ColumnFactory, DatasetFactory

CITIES = ["north", "south", "east"]


@pytest.fixture
def people(hr) -> Dataset:
    """Several rows per person (at most 2 count), outliers, undeclared categories, NULLs, bin edges."""
    dataset = DatasetFactory(domain=hr, table_name="people", sensitivity=Sensitivity.CONFIDENTIAL,
                             privacy_unit_column="person_id", max_rows_per_unit=2)  # fmt: skip
    declared: list[tuple[str, str, dict[str, Any]]] = [
        ("person_id", "integer", {"nullable": True}),
        ("age", "integer", {"lower_bound": Decimal(18), "upper_bound": Decimal(65), "nullable": True}),
        ("income", "float", {"lower_bound": Decimal(0), "upper_bound": Decimal(1000), "nullable": False}),
        ("city", "string", {"categories": CITIES, "nullable": True}),
        ("member", "boolean", {"nullable": True}),
        ("grade", "integer", {"categories": [1, 2, 3], "nullable": False}),
    ]
    for position, (name, logical, extra) in enumerate(declared):
        ColumnFactory(dataset=dataset, name=name, position=position, logical_type=logical,
                      data_type=logical.upper(), **extra)  # fmt: skip
    return dataset


def _rows(count: int = 90) -> list[dict[str, Any]]:
    rng = np.random.default_rng(11)
    rows = []
    for index in range(count):
        person = None if index % 29 == 0 else int(rng.integers(1, 25))
        rows.append({
            "person_id": person,
            "age": None if index % 13 == 0 else int(rng.integers(0, 100)),
            "income": None if index % 31 == 0 else float(rng.choice([-5.0, 62.5, 125.0, 999.9, 1000.0, 4000.0,
                                                                      float(rng.uniform(0, 1000))])),
            "city": rng.choice([*CITIES, "atlantis", None]),
            "member": None if index % 7 == 0 else bool(index % 2),
            "grade": int(rng.integers(0, 5)),
        })  # fmt: skip
    return rows


@pytest.mark.parametrize("kind", ["postgresql", "sqlite", "duckdb"])
def test_the_backend_counts_every_pair_as_the_in_memory_source_does(kind: str, people: Dataset, table_copy) -> None:
    rows = _rows()
    table_copy(people, kind, rows)
    dataset = Dataset.objects.get(pk=people.pk)
    encoding = encoding_for(dataset=dataset, column_names=None)
    assert encoding.names == ["age", "income", "city", "member", "grade"]
    cliques = [*candidate_pairs(encoding), ("city",)]
    in_backend = backend_source(dataset).marginals(encoding, cliques)
    in_memory = FrameSource(pd.DataFrame(rows), privacy_unit="person_id", max_rows_per_unit=2).marginals(
        encoding, cliques
    )
    for clique in cliques:
        assert np.array_equal(in_backend[clique], in_memory[clique]), clique
    # contributions were bounded: fewer rows than kept by the filters alone
    assert in_memory[("city",)].sum() < len(FrameSource(pd.DataFrame(rows)).codes(encoding))


def test_one_person_with_fifty_rows_moves_each_count_vector_by_at_most_the_declared_rows(
    people: Dataset, table_copy
) -> None:
    rows = _rows(60)
    intruder = [{**rows[0], "person_id": 999, "age": 20 + i % 3, "city": CITIES[i % 3]} for i in range(50)]
    table_copy(people, "postgresql", rows)
    dataset = Dataset.objects.get(pk=people.pk)
    encoding = encoding_for(dataset=dataset, column_names=None)
    cliques = candidate_pairs(encoding)
    without = backend_source(dataset).marginals(encoding, cliques)
    table_copy(people, "postgresql", rows + intruder)
    with_intruder = backend_source(Dataset.objects.get(pk=people.pk)).marginals(encoding, cliques)
    for clique in cliques:
        change = np.abs(with_intruder[clique] - without[clique])
        assert change.sum() <= 2 and np.sqrt((change**2).sum()) <= 2, clique  # max_rows_per_unit = 2


def test_one_row_per_unit_enforced_by_the_backend_needs_no_window(people: Dataset, table_copy) -> None:
    people.max_rows_per_unit = 1
    people.save()
    Column.objects.filter(dataset=people, name="person_id").update(is_unique=True, nullable=False)
    rows = [{**row, "person_id": index} for index, row in enumerate(_rows(40))]
    table_copy(people, "sqlite", rows)
    dataset = Dataset.objects.get(pk=people.pk)
    source = backend_source(dataset)
    encoding = encoding_for(dataset=dataset, column_names=["age", "city"])
    sql, _, _ = source.statement(encoding, [("age", "city")])
    assert "ROW_NUMBER" not in sql
    expected = FrameSource(pd.DataFrame(rows), privacy_unit="person_id").marginals(encoding, [("age", "city")])
    assert np.array_equal(source.marginals(encoding, [("age", "city")])[("age", "city")], expected[("age", "city")])


def test_category_values_reach_the_backend_as_bound_parameters(people: Dataset, table_copy) -> None:
    people.columns.filter(name="city").update(categories=["x' OR 1=1 --", "north"])
    table_copy(people, "sqlite", _rows(20))
    dataset = Dataset.objects.get(pk=people.pk)
    encoding = encoding_for(dataset=dataset, column_names=["city"])
    sql, params, _ = backend_source(dataset).statement(encoding, [("city",)])
    assert "OR 1=1" not in sql and "x' OR 1=1 --" in params.values()
    counts = backend_source(dataset).marginals(encoding, [("city",)])[("city",)]
    assert counts.sum() > 0


def test_a_table_in_postgresql_is_synthesized_without_reading_its_rows(people: Dataset, table_copy) -> None:
    table_copy(people, "postgresql", _rows(200))
    dataset = Dataset.objects.get(pk=people.pk)
    encoding = encoding_for(dataset=dataset, column_names=["city", "grade"])
    source = backend_source(dataset)
    result = synthesize(
        source=source,
        encoding=encoding,
        synthesizer="mst",
        epsilon=Decimal(2),
        delta=Decimal("1e-6"),
        rows=500,
        progress=lambda *_: None,
        should_stop=lambda: False,
    )
    assert len(result.frame) == 500 and source.calls == 1
    assert set(result.frame["grade"]) <= {1, 2, 3}
    assert set(result.frame["city"].dropna()) <= set(CITIES)


def test_a_dataset_without_a_backend_is_refused(people: Dataset) -> None:
    with pytest.raises(SynthRefused, match="no backend"):
        backend_source(people)
