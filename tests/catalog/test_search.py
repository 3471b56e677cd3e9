"""The search selector: ranking, matching, facets, filters and visibility."""

import pytest

from apps.catalog.search import (
    MAX_QUERY_CHARS,
    SearchResult,
    catalog_search,
    fallback_order,
    fallback_search,
)
from apps.catalog.selectors import dataset_list_for
from apps.core.errors import ApplicationError
from tests.catalog.test_search_mesh import build_mesh, make_dataset

pytestmark = pytest.mark.django_db


def addresses(result: SearchResult) -> list[str]:
    return [dataset.address for dataset in result.datasets]


def counts(result: SearchResult, kind: str) -> dict[str, int]:
    return {facet.value: facet.count for facet in result.facets[kind]}


def test_an_exact_name_match_ranks_first_even_when_others_mention_the_word_more(hr, bob):
    build_mesh(hr)
    result = catalog_search(user=bob, query="adult")
    assert addresses(result)[0] == "hr.census.adult"
    assert set(addresses(result)) == {"hr.census.adult", "sales.shop.orders", "marketing.web.adult_audience"}
    assert result.total == 3


def test_without_an_exact_match_a_match_in_the_table_name_outranks_one_in_a_description(hr, bob):
    mesh = build_mesh(hr)
    make_dataset(mesh.sales, "sales.shop.aaa_notes", description="Notes about payroll.")
    make_dataset(mesh.sales, "sales.shop.zzz_payroll_runs")
    found = addresses(catalog_search(user=bob, query="payroll"))
    assert found == ["sales.shop.zzz_payroll_runs", "sales.shop.aaa_notes"]


def test_the_full_address_and_the_table_name_count_as_exact_matches(hr, bob):
    build_mesh(hr)
    assert addresses(catalog_search(user=bob, query="HR.Census.Adult"))[0] == "hr.census.adult"
    assert addresses(catalog_search(user=bob, query="adult_audience"))[0] == "marketing.web.adult_audience"


def test_it_finds_a_dataset_by_a_column_name_whole_or_in_parts(hr, bob):
    build_mesh(hr)
    assert addresses(catalog_search(user=bob, query="workclass")) == ["hr.census.adult"]
    assert addresses(catalog_search(user=bob, query="person_id")) == ["hr.census.adult"]
    assert addresses(catalog_search(user=bob, query="email")) == ["sales.shop.customers"]


def test_every_word_is_a_prefix_and_all_words_must_match(hr, bob):
    build_mesh(hr)
    assert addresses(catalog_search(user=bob, query="work")) == ["hr.census.adult"]
    assert addresses(catalog_search(user=bob, query="customer master")) == ["sales.shop.customers"]
    assert addresses(catalog_search(user=bob, query="customer salary")) == []


def test_it_finds_datasets_by_tag_description_and_product_name(hr, bob):
    build_mesh(hr)
    assert set(addresses(catalog_search(user=bob, query="marketing"))) == {"marketing.web.adult_audience"}
    assert addresses(catalog_search(user=bob, query="employer")) == ["hr.census.adult"]
    assert set(addresses(catalog_search(user=bob, query="web shop"))) == {"sales.shop.orders", "sales.shop.customers"}


def test_an_empty_query_lists_everything_visible_by_name_with_facets(hr, bob):
    build_mesh(hr)
    result = catalog_search(user=bob, query="  ")
    assert result.total == 5
    assert addresses(result)[0] == "hr.census.adult"
    assert counts(result, "domain") == {"hr": 2, "sales": 2, "marketing": 1}
    assert counts(result, "sensitivity") == {"open": 3, "confidential": 2}
    assert counts(result, "tag") == {"income": 3, "census": 1, "sales": 2, "marketing": 1}
    assert counts(result, "owner") == {"alice": 2, "sam": 2, "pat": 2}


def test_facet_counts_follow_the_query(hr, bob):
    build_mesh(hr)
    result = catalog_search(user=bob, query="adult")
    assert counts(result, "domain") == {"hr": 1, "sales": 1, "marketing": 1}
    assert counts(result, "tag") == {"census": 1, "income": 2, "sales": 1, "marketing": 1}
    labels = {facet.value: facet.label for facet in result.facets["domain"]}
    assert labels["hr"] == "Human Resources"


def test_filters_narrow_the_results_and_the_facet_counts(hr, bob):
    build_mesh(hr)
    by_tag = catalog_search(user=bob, query="", tags=["income"])
    assert set(addresses(by_tag)) == {"hr.census.adult", "hr.census.salaries", "sales.shop.orders"}
    assert counts(by_tag, "domain") == {"hr": 2, "sales": 1}
    assert [f.selected for f in by_tag.facets["tag"] if f.value == "income"] == [True]

    both_tags = catalog_search(user=bob, query="", tags=["income", "sales"])
    assert addresses(both_tags) == ["sales.shop.orders"]

    by_domain = catalog_search(user=bob, query="customer", domains=["sales", "marketing"])
    assert set(addresses(by_domain)) == {"sales.shop.orders", "sales.shop.customers"}

    assert set(addresses(catalog_search(user=bob, query="", sensitivities=["confidential"]))) == {
        "hr.census.adult",
        "hr.census.salaries",
    }


def test_the_owner_filter_takes_domain_owners_and_product_owners(hr, bob):
    build_mesh(hr)
    assert set(addresses(catalog_search(user=bob, query="", owners=["pat"]))) == {
        "sales.shop.orders",
        "sales.shop.customers",
    }
    assert set(addresses(catalog_search(user=bob, query="", owners=["alice", "nobody"]))) == {
        "hr.census.adult",
        "hr.census.salaries",
    }


def test_charlie_never_sees_hr_datasets_in_results_or_facet_counts(hr, charlie):
    build_mesh(hr)
    result = catalog_search(user=charlie, query="adult")
    assert addresses(result)[0] == "marketing.web.adult_audience"
    assert "hr.census.adult" not in addresses(result)
    assert result.total == 2
    assert counts(result, "tag") == {"income": 1, "sales": 1, "marketing": 1}

    everything = catalog_search(user=charlie, query="")
    assert everything.total == 3
    assert "hr" not in counts(everything, "domain")
    assert "confidential" not in counts(everything, "sensitivity")
    assert "census" not in counts(everything, "tag")
    assert "alice" not in counts(everything, "owner")


def test_charlie_asking_for_the_hr_domain_gets_nothing_and_learns_nothing_about_it(hr, charlie):
    build_mesh(hr)
    result = catalog_search(user=charlie, query="", domains=["hr"], tags=["census"])
    assert result.total == 0
    assert result.datasets == []
    assert [(f.value, f.label, f.count) for f in result.facets["domain"]] == [("hr", "hr", 0)]


def test_an_inactive_user_finds_nothing(hr, bob):
    build_mesh(hr)
    bob.is_active = False
    bob.save()
    assert catalog_search(user=bob, query="").total == 0


def test_pages_follow_the_ranking(hr, bob):
    build_mesh(hr)
    everything = addresses(catalog_search(user=bob, query="", limit=100))
    pages = [addresses(catalog_search(user=bob, query="", limit=2, offset=offset)) for offset in (0, 2, 4)]
    assert [a for page in pages for a in page] == everything
    assert catalog_search(user=bob, query="", limit=2, offset=4).total == 5


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (101, 0), (20, -1), (20, 10_001)])
def test_it_refuses_a_page_out_of_range(bob, limit, offset):
    with pytest.raises(ApplicationError) as refused:
        catalog_search(user=bob, query="", limit=limit, offset=offset)
    assert "must be between" in refused.value.message


@pytest.mark.parametrize(
    "query",
    ["\ud800adult", "adult\x00", "\x00" * 50, "'\\&|!():*", "a" * 10_000, "\u202eadult\u202c", "(((", "adult:*:* & !"],
)
def test_odd_text_reaches_the_database_only_as_clean_words(hr, bob, query):
    build_mesh(hr)
    result = catalog_search(user=bob, query=query)
    assert len(result.query) <= MAX_QUERY_CHARS
    assert "\x00" not in result.query


def test_a_query_of_symbols_only_finds_nothing(hr, bob):
    build_mesh(hr)
    assert catalog_search(user=bob, query="&|!():*").total == 0


def test_the_fallback_puts_the_exact_match_first_then_names_containing_the_words():
    rows = [
        (1, "Adult audience", "adult_audience", "marketing.web.adult_audience"),
        (2, "orders", "orders", "sales.shop.orders"),
        (3, "adult", "adult", "hr.census.adult"),
        (4, "Abc adult extract", "x", "a.b.x"),
    ]
    assert fallback_order("Adult", rows) == [3, 4, 1, 2]
    assert fallback_order("hr.census.adult", rows)[0] == 3
    assert fallback_order("", rows) == [4, 3, 1, 2]


def test_the_fallback_search_matches_words_anywhere_and_counts_facets(hr, bob, charlie):
    build_mesh(hr)
    page, total, facet_rows = fallback_search(
        dataset_list_for(user=bob), query="adult", terms=["adult"], limit=20, offset=0
    )
    assert total == 3
    assert page[0] == dataset_list_for(user=bob).get(address="hr.census.adult").pk
    assert ("domain", "hr", "Human Resources", 1) in facet_rows
    assert ("owner", "pat", "pat", 1) in facet_rows

    _page, charlie_total, charlie_rows = fallback_search(
        dataset_list_for(user=charlie), query="adult", terms=["adult"], limit=20, offset=0
    )
    assert charlie_total == 2
    assert not [row for row in charlie_rows if row[1] in ("hr", "census", "alice")]
