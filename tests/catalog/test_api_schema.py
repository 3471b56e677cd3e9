import pytest
import yaml  # drf-spectacular depends on PyYAML
from django.test import Client

from apps.accounts.models import User
from tests.conftest import client_for

PATHS = [
    "/api/v1/domains/",
    "/api/v1/domains/{slug}/",
    "/api/v1/domains/{slug}/products/",
    "/api/v1/domains/{slug}/products/{product}/",
    "/api/v1/products/",
    "/api/v1/datasets/",
    "/api/v1/datasets/{address}/",
    "/api/v1/datasets/{address}/columns/",
    "/api/v1/datasets/{address}/columns/{name}/",
    "/api/v1/dcat/",
    "/api/v1/auth/token/",
]


@pytest.mark.django_db
def test_the_schema_documents_every_catalog_endpoint() -> None:
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert set(PATHS) <= schema["paths"].keys()
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    patch = schema["paths"]["/api/v1/datasets/{address}/columns/{name}/"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ColumnUpdateRequest")
    assert {"200", "400", "403", "404"} <= patch["responses"].keys()


def test_the_browsable_docs_page_is_served(bob: User) -> None:
    response = client_for(bob).get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
