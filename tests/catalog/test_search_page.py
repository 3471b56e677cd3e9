"""The search page: a GET form that works without JavaScript, and its HTMX partial."""

import pytest
from django.test import Client

from tests.catalog.test_search_hostile import HOSTILE_QUERIES, HOSTILE_RAW_QUERY_STRINGS
from tests.catalog.test_search_mesh import build_mesh
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
URL = "/search/"


def test_an_anonymous_visitor_is_sent_to_the_login_page():
    response = Client().get(URL, {"q": "adult"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/search/")


def test_bob_sees_the_adult_dataset_first_with_its_details_and_a_link(hr, bob):
    build_mesh(hr)
    response = client_for(bob).get(URL, {"q": "adult"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert 'hx-trigger="input changed delay:300ms' in html
    assert html.index("hr.census.adult") < html.index("sales.shop.orders")
    assert html.index("hr.census.adult") < html.index("marketing.web.adult_audience")
    assert 'href="/datasets/hr.census.adult/"' in html
    shown_texts = ("Human Resources", "Census extract", "Confidential", "Census income records", ">census<")
    for shown in (*shown_texts, "3 datasets"):
        assert shown in html


def test_the_htmx_request_gets_only_the_results_partial(hr, bob):
    build_mesh(hr)
    response = client_for(bob).get(URL, {"q": "email"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "sales.shop.customers" in html
    assert "hr.census.adult" not in html
    assert "HX-Request" in response["Vary"]


def test_facets_are_checkboxes_that_filter(hr, bob):
    build_mesh(hr)
    html = client_for(bob).get(URL, {"q": "", "tag": "income", "domain": "sales"}).content.decode()
    assert 'name="tag" value="income" checked' in html
    assert 'name="domain" value="sales" checked' in html
    assert "sales.shop.orders" in html
    assert "hr.census.adult" not in html
    assert "1 dataset" in html


def test_results_come_in_pages(hr, bob):
    mesh = build_mesh(hr)
    from tests.catalog.test_search_mesh import make_dataset

    for number in range(25):
        make_dataset(mesh.sales, f"sales.shop.extra_{number:02d}", description="Extra table.")
    client = client_for(bob)
    first = client.get(URL, {"q": "extra"}).content.decode()
    assert "Page 1 of 2" in first
    assert "?q=extra&amp;page=2" in first
    second = client.get(URL, {"q": "extra", "page": "2"}).content.decode()
    assert "sales.shop.extra_24" in second
    assert "sales.shop.extra_00" not in second
    for page in ("0", "-3", "abc", "999999999999"):
        assert client.get(URL, {"q": "extra", "page": page}).status_code == 200


def test_charlie_sees_no_hr_dataset_and_no_hr_facet(hr, charlie):
    build_mesh(hr)
    html = client_for(charlie).get(URL, {"q": "adult"}).content.decode()
    assert "hr.census.adult" not in html
    assert "Human Resources" not in html
    assert "marketing.web.adult_audience" in html


def test_hostile_input_gets_a_page_not_an_error(hr, bob):
    build_mesh(hr)
    client = client_for(bob)
    for query in HOSTILE_QUERIES:
        response = client.get(URL, {"q": query, "tag": query})
        assert response.status_code == 200, repr(query)[:60]
        assert "<script>alert(1)</script>" not in response.content.decode()
    for raw in HOSTILE_RAW_QUERY_STRINGS:
        assert client.get(f"{URL}?{raw}").status_code == 200, raw
