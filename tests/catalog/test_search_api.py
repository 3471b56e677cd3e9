"""GET /api/v1/search/ as the three people see it, and what hostile input gets back."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.catalog.test_search_hostile import HOSTILE_QUERIES, HOSTILE_RAW_QUERY_STRINGS
from tests.catalog.test_search_mesh import build_mesh
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/search/"


def test_bob_finds_the_adult_dataset_first_with_its_fields_and_facets(hr, bob):
    build_mesh(hr)
    response = client_for(bob).get(URL, {"q": "adult"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    first = body["results"][0]
    assert first == {
        "address": "hr.census.adult",
        "name": "adult",
        "domain": "hr",
        "product": "census",
        "sensitivity": "confidential",
        "tags": ["census", "income"],
        "description": "Census income records, one row per person.",
        "url": "/datasets/hr.census.adult/",
    }
    assert {f["value"]: f["count"] for f in body["facets"]["domain"]} == {"hr": 1, "sales": 1, "marketing": 1}
    assert set(body["facets"]) == {"domain", "sensitivity", "tag", "owner"}


def test_a_token_works_and_filters_repeat(hr, bob):
    build_mesh(hr)
    token = Token.objects.create(user=bob)
    response = Client().get(
        f"{URL}?q=&tag=income&domain=hr&domain=sales&limit=2&offset=1", HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [hit["address"] for hit in body["results"]] == ["sales.shop.orders", "hr.census.salaries"]


def test_charlie_gets_no_hr_dataset_and_no_hr_count(hr, charlie):
    build_mesh(hr)
    body = client_for(charlie).get(URL, {"q": "adult"}).json()
    assert "hr.census.adult" not in [hit["address"] for hit in body["results"]]
    assert body["count"] == 2
    assert "hr" not in [facet["value"] for facet in body["facets"]["domain"]]
    assert "census" not in [facet["value"] for facet in body["facets"]["tag"]]


def test_an_anonymous_caller_is_refused(hr):
    build_mesh(hr)
    response = Client().get(URL, {"q": "adult"})
    assert response.status_code in (401, 403)
    assert "message" in response.json()
    assert "hr.census.adult" not in response.content.decode()


@pytest.mark.parametrize(
    ("query_string", "field"),
    [("limit=0", "limit"), ("limit=1000", "limit"), ("limit=abc", "limit"),
     ("offset=-1", "offset"), ("offset=99999999999999999999", "offset"), ("offset=1.5", "offset"),
     ("limit=%00", "limit")],
)
def test_a_bad_limit_or_offset_is_a_400_naming_the_parameter(bob, query_string, field):
    response = client_for(bob).get(f"{URL}?q=adult&{query_string}")
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith(f"{field}:")
    assert field in body["fields"]


def test_hostile_queries_and_filters_get_a_200(hr, bob):
    build_mesh(hr)
    client = client_for(bob)
    for query in HOSTILE_QUERIES:
        for params in ({"q": query}, {"q": "adult", "domain": query, "tag": query, "owner": query,
                                      "sensitivity": query}):
            response = client.get(URL, params)
            assert response.status_code == 200, (repr(query)[:60], response.content[:200])
            assert isinstance(response.json()["results"], list)
    for raw in HOSTILE_RAW_QUERY_STRINGS:
        response = client.get(f"{URL}?{raw}")
        assert response.status_code == 200, raw


def test_the_schema_documents_the_search_endpoint(admin_user):
    response = client_for(admin_user).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/search/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "domain", "sensitivity", "tag", "owner", "limit"}
    assert "200" in operation["responses"] and "400" in operation["responses"]
