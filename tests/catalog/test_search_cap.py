"""Broad queries on PostgreSQL rank and count at most ``CANDIDATE_CAP`` candidates, and say so."""

import pytest

from apps.catalog import search
from apps.catalog.search import SearchResult, catalog_search
from apps.domains.models import Domain, Sensitivity
from tests.catalog.test_search_mesh import build_mesh, make_dataset
from tests.conftest import client_for
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db
CAP = 4


@pytest.fixture(autouse=True)
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "CANDIDATE_CAP", CAP)


def addresses(result: SearchResult) -> list[str]:
    return [dataset.address for dataset in result.datasets]


def counts(result: SearchResult, kind: str) -> dict[str, int]:
    return {facet.value: facet.count for facet in result.facets[kind]}


def add_decoys(domain: Domain, count: int = 12) -> None:
    """Datasets that mention "adult", stored before the mesh, so they are the first candidates."""
    for number in range(count):
        make_dataset(domain, f"{domain.slug}.db.adult_decoy_{number:02}", description="adult", tags=["decoy"])


def test_a_broad_query_ranks_the_first_candidates_and_says_its_total_is_a_lower_bound(hr, bob):
    add_decoys(DomainFactory(slug="bulk", name="Bulk", sensitivity=Sensitivity.OPEN))
    build_mesh(hr)
    result = catalog_search(user=bob, query="adult")
    assert result.total_is_lower_bound
    assert result.total == CAP + 1
    assert result.total_display == f"{CAP + 1}+"
    assert len(result.datasets) == CAP + 1
    assert "marketing.web.adult_audience" not in addresses(result)


def test_the_exact_match_comes_first_even_beyond_the_cap(hr, bob):
    add_decoys(DomainFactory(slug="bulk", name="Bulk", sensitivity=Sensitivity.OPEN))
    build_mesh(hr)
    assert addresses(catalog_search(user=bob, query="adult"))[0] == "hr.census.adult"
    assert addresses(catalog_search(user=bob, query="adult_audience"))[0] == "marketing.web.adult_audience"


def test_facets_count_only_the_candidates_and_the_exact_match(hr, bob):
    add_decoys(DomainFactory(slug="bulk", name="Bulk", sensitivity=Sensitivity.OPEN))
    build_mesh(hr)
    result = catalog_search(user=bob, query="adult")
    assert counts(result, "domain") == {"bulk": CAP, "hr": 1}
    assert counts(result, "tag") == {"decoy": CAP, "census": 1, "income": 1}


def test_the_empty_query_counts_facets_over_the_first_candidates_by_name(hr, bob):
    build_mesh(hr)
    result = catalog_search(user=bob, query="")
    assert result.total_is_lower_bound
    assert result.total == CAP
    assert sum(counts(result, "domain").values()) == CAP
    # The first CAP datasets by name: adult, adult audience, customers, orders (not salaries).
    assert counts(result, "domain") == {"hr": 1, "marketing": 1, "sales": 2}
    assert addresses(result)[0] == "hr.census.adult"


def test_the_empty_query_pages_past_the_cap_by_name(hr, bob):
    build_mesh(hr)
    first = addresses(catalog_search(user=bob, query="", limit=2, offset=2))
    past = addresses(catalog_search(user=bob, query="", limit=2, offset=CAP))
    assert first == ["sales.shop.customers", "sales.shop.orders"]
    assert past == ["hr.census.salaries"]


def test_as_many_matches_as_the_cap_is_an_exact_total(hr, bob, monkeypatch):
    build_mesh(hr)
    monkeypatch.setattr(search, "CANDIDATE_CAP", 3)
    result = catalog_search(user=bob, query="adult")
    assert result.total == 3
    assert not result.total_is_lower_bound
    assert result.total_display == "3"


def test_invisible_datasets_never_take_a_candidate_place_nor_show_for_charlie(hr, charlie):
    add_decoys(hr)
    build_mesh(hr)
    result = catalog_search(user=charlie, query="adult")
    assert set(addresses(result)) == {"marketing.web.adult_audience", "sales.shop.orders"}
    assert result.total == 2
    assert not result.total_is_lower_bound
    assert "hr" not in counts(result, "domain")
    assert "confidential" not in counts(result, "sensitivity")
    assert not {"census", "decoy"} & set(counts(result, "tag"))
    assert "alice" not in counts(result, "owner")


def test_charlie_gets_no_exact_match_of_hr_even_beyond_the_cap(hr, charlie):
    add_decoys(DomainFactory(slug="bulk", name="Bulk", sensitivity=Sensitivity.OPEN))
    build_mesh(hr)
    result = catalog_search(user=charlie, query="hr.census.adult")
    assert not [a for a in addresses(result) if a.startswith("hr.")]
    assert "hr" not in counts(result, "domain")
    broad = catalog_search(user=charlie, query="adult")
    assert broad.total_is_lower_bound
    assert not [a for a in addresses(broad) if a.startswith("hr.")]
    assert counts(broad, "domain") == {"bulk": CAP}


def test_the_api_says_the_count_is_a_lower_bound(hr, bob):
    add_decoys(DomainFactory(slug="bulk", name="Bulk", sensitivity=Sensitivity.OPEN))
    build_mesh(hr)
    broad = client_for(bob).get("/api/v1/search/", {"q": "adult"}).json()
    assert (broad["count"], broad["count_is_lower_bound"]) == (CAP + 1, True)
    assert broad["results"][0]["address"] == "hr.census.adult"
    narrow = client_for(bob).get("/api/v1/search/", {"q": "email"}).json()
    assert (narrow["count"], narrow["count_is_lower_bound"]) == (1, False)


def test_the_page_shows_a_plus_and_where_the_facet_counts_come_from(hr, bob):
    add_decoys(DomainFactory(slug="bulk", name="Bulk", sensitivity=Sensitivity.OPEN))
    build_mesh(hr)
    html = client_for(bob).get("/search/", {"q": "adult"}).content.decode()
    assert f"{CAP + 1}+ datasets match" in html
    assert f"(among the first {CAP})" in html
    narrow = client_for(bob).get("/search/", {"q": "email"}).content.decode()
    assert "1 dataset match" in narrow
    assert "among the first" not in narrow
