import json

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.catalog.models import HarvestRun
from apps.domains.models import Backend
from tests.domains.backends import PasswordServer
from tests.factories import BackendFactory

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def people(hr, sqlite_file) -> Backend:
    return BackendFactory(domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))


def test_the_list_shows_backends_of_visible_domains_only(bob, charlie, people):
    seen = api(bob).get(reverse("api-backends")).json()
    assert [b["address"] for b in seen["results"]] == ["hr.people"]
    assert seen["results"][0]["has_password"] is False
    assert "password" not in seen["results"][0]
    assert "encrypted_password" not in seen["results"][0]
    assert api(charlie).get(reverse("api-backends")).json()["results"] == []
    assert api(bob).get(reverse("api-backends"), {"domain": "sales"}).json()["results"] == []


def test_charlie_gets_404_on_every_backend_endpoint(charlie, people):
    client = api(charlie)
    run = HarvestRun.objects.create(backend=people)
    assert client.get(reverse("api-backend", args=[people.pk])).status_code == 404
    assert client.patch(reverse("api-backend", args=[people.pk]), {"url": "/x"}, format="json").status_code == 404
    assert client.delete(reverse("api-backend", args=[people.pk])).status_code == 404
    assert client.post(reverse("api-backend-test", args=[people.pk])).status_code == 404
    assert client.post(reverse("api-backend-harvest", args=[people.pk])).status_code == 404
    assert client.get(reverse("api-backend-harvest-runs", args=[people.pk])).status_code == 404
    assert client.get(reverse("api-harvest-run", args=[run.pk])).status_code == 404
    created = client.post(
        reverse("api-backends"), {"domain": "hr", "slug": "x", "kind": "sqlite", "url": "/x"}, format="json"
    )
    assert created.status_code == 404
    assert created.json() == {"message": "Not found.", "code": "not_found"}


def test_a_viewer_is_refused_changes_with_403(bob, people):
    client = api(bob)
    assert client.post(reverse("api-backend-harvest", args=[people.pk])).status_code == 403
    assert client.post(reverse("api-backend-test", args=[people.pk])).status_code == 403
    assert client.delete(reverse("api-backend", args=[people.pk])).status_code == 403
    refused = client.post(
        reverse("api-backends"), {"domain": "hr", "slug": "x", "kind": "sqlite", "url": "/x"}, format="json"
    )
    assert refused.status_code == 403
    assert "owners" in refused.json()["message"]


def test_a_wrong_password_gives_400_naming_the_problem_and_stores_nothing(alice, hr, password_pg: PasswordServer):
    response = api(alice).post(
        reverse("api-backends"),
        {"domain": "hr", "slug": "shop", "kind": "postgresql", "url": password_pg.url(), "password": "Wrong-Secret-9"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "backend_unavailable"
    assert 'could not connect: connection to server at "127.0.0.1"' in body["message"]
    assert 'password authentication failed for user "reader"' in body["message"]
    assert "Wrong-Secret-9" not in response.content.decode()
    assert not Backend.objects.exists()


def test_an_owner_registers_tests_and_harvests_a_backend(alice, hr, password_pg: PasswordServer):
    client = api(alice)
    created = client.post(
        reverse("api-backends"),
        {
            "domain": "hr",
            "slug": "shop",
            "kind": "postgresql",
            "url": password_pg.url(),
            "password": password_pg.password,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["address"], body["has_password"], body["health"]) == ("hr.shop", True, "ok")
    assert password_pg.password not in json.dumps(body)
    assert Backend.objects.get().url == password_pg.url()

    checked = client.post(reverse("api-backend-test", args=[body["id"]]))
    assert (checked.status_code, checked.json()["health"]) == (200, "ok")

    harvest = client.post(reverse("api-backend-harvest", args=[body["id"]]))
    assert harvest.status_code == 202
    assert harvest.json()["status"] == "queued"
    run = client.get(reverse("api-harvest-run", args=[harvest.json()["id"]])).json()
    assert run["backend_address"] == "hr.shop"


def test_a_bad_body_is_a_400_with_a_message(alice, hr):
    response = api(alice).post(reverse("api-backends"), {"domain": "hr", "kind": "oracle"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"slug", "kind", "url"}


def test_changing_the_password_through_the_api_is_tested_first(alice, hr, password_pg: PasswordServer):
    backend = BackendFactory(domain=hr, slug="shop", kind=Backend.Kind.POSTGRESQL, url=password_pg.url())
    url = reverse("api-backend", args=[backend.pk])
    refused = api(alice).patch(url, {"password": "nope"}, format="json")
    assert refused.status_code == 400
    assert "password authentication failed" in refused.json()["message"]
    accepted = api(alice).patch(url, {"password": password_pg.password}, format="json")
    assert accepted.status_code == 200
    assert accepted.json()["has_password"] is True


def test_the_openapi_schema_documents_the_backend_endpoints():
    schema = SchemaGenerator(patterns=None).get_schema(request=None, public=True)
    paths = schema["paths"]
    for path in ("/api/v1/backends/", "/api/v1/backends/{id}/", "/api/v1/backends/{id}/test-connection/",
                 "/api/v1/backends/{id}/harvest/", "/api/v1/harvest-runs/{id}/"):  # fmt: skip
        assert path in paths, path
    assert "202" in paths["/api/v1/backends/{id}/harvest/"]["post"]["responses"]
    create = schema["components"]["schemas"]["BackendCreateRequest"]["properties"]
    assert create["password"]["writeOnly"] is True
    assert "password" not in schema["components"]["schemas"]["Backend"]["properties"]
