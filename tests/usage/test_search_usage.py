"""Search uses usage only to break ties of relevance: never above an exact name match or a better match."""

import pytest

from apps.catalog.search import catalog_search
from apps.usage.rollup import usage_rollup
from tests.catalog.test_search_mesh import make_dataset
from tests.usage.conftest import event

pytestmark = pytest.mark.django_db


def addresses(user, query: str) -> list[str]:
    return [d.address for d in catalog_search(user=user, query=query).datasets]


def test_usage_breaks_ties_but_never_outranks_an_exact_name_match(hr, alice, bob):
    exact = make_dataset(hr, "hr.census.payroll")
    history = make_dataset(hr, "hr.census.payroll_history")
    summary = make_dataset(hr, "hr.census.payroll_summary")
    wages = make_dataset(hr, "hr.census.wages", description="The payroll of every month.")
    assert addresses(bob, "payroll") == [exact.address, history.address, summary.address, wages.address]

    for dataset, uses in ((summary, 12), (history, 3), (wages, 40)):
        for _ in range(uses):
            event(alice, "dataset.view", dataset)
    usage_rollup()

    assert addresses(bob, "payroll") == [exact.address, summary.address, history.address, wages.address]
    assert addresses(bob, "payroll_history")[0] == history.address
