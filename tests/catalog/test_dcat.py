import pytest
from django.test import Client

from apps.accounts.models import User
from apps.domains.models import Domain
from tests.catalog.test_api_fixtures import HR_BACKEND_URL, Mesh, build_mesh
from tests.conftest import client_for

URL = "/api/v1/dcat/"
NON_PUBLIC = "http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC"
PUBLIC = "http://publications.europa.eu/resource/authority/access-right/PUBLIC"


@pytest.fixture
def mesh(hr: Domain, alice: User) -> Mesh:
    return build_mesh(hr=hr, alice=alice)


def datasets_of(body: dict) -> dict[str, dict]:
    return {node["dct:identifier"]: node for node in body["dcat:dataset"]}


def test_the_export_is_a_json_ld_dcat_catalog(mesh: Mesh, bob: User) -> None:
    response = client_for(bob).get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    body = response.json()
    assert body["@type"] == "dcat:Catalog"
    assert body["@id"] == "http://testserver/api/v1/dcat/"
    assert {"dcat", "dct", "foaf", "vcard", "xsd"} <= body["@context"].keys()
    assert body["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert body["@context"]["dct"] == "http://purl.org/dc/terms/"
    assert set(datasets_of(body)) == {"hr.census.adult", "sales.shop.orders"}


def test_a_dataset_carries_the_dcat_ap_keys(mesh: Mesh, bob: User) -> None:
    adult = datasets_of(client_for(bob).get(URL).json())["hr.census.adult"]
    assert adult["@type"] == "dcat:Dataset"
    assert adult["@id"] == "http://testserver/datasets/hr.census.adult/"
    assert adult["dct:title"] == "adult"
    assert adult["dct:description"] == mesh.adult.description
    assert adult["dcat:keyword"] == ["census"]
    assert adult["dct:publisher"]["foaf:name"] == "Human Resources"
    assert adult["dct:publisher"]["@type"] == "foaf:Organization"
    assert adult["dcat:contactPoint"] == [
        {"@type": "vcard:Individual", "vcard:fn": "alice", "vcard:hasEmail": {"@id": "mailto:alice@example.org"}}
    ]
    assert adult["dct:modified"]["@type"] == "xsd:dateTime"
    assert adult["dct:modified"]["@value"].startswith(str(mesh.adult.updated_at.year))


def test_a_confidential_dataset_is_non_public_with_a_note_on_dp_access(mesh: Mesh, bob: User) -> None:
    nodes = datasets_of(client_for(bob).get(URL).json())
    rights = nodes["hr.census.adult"]["dct:accessRights"]
    assert rights["@id"] == NON_PUBLIC
    assert "differentially private" in rights["rdfs:label"]
    assert nodes["sales.shop.orders"]["dct:accessRights"]["@id"] == PUBLIC


def test_a_distribution_points_at_the_portal_never_at_the_backend(mesh: Mesh, admin_user: User) -> None:
    response = client_for(admin_user).get(URL)
    [distribution] = datasets_of(response.json())["hr.census.adult"]["dcat:distribution"]
    assert distribution["@type"] == "dcat:Distribution"
    assert distribution["dcat:accessURL"] == {"@id": "http://testserver/api/v1/datasets/hr.census.adult/"}
    text = response.content.decode()
    assert HR_BACKEND_URL not in text and "db.hr.internal" not in text and "password" not in text.lower()


def test_charlie_exports_no_hr_dataset(mesh: Mesh, charlie: User) -> None:
    response = client_for(charlie).get(URL)
    assert set(datasets_of(response.json())) == {"sales.shop.orders"}
    assert "Human Resources" not in response.content.decode()


def test_a_removed_dataset_is_not_exported(mesh: Mesh, bob: User) -> None:
    mesh.orders.removed_at = mesh.orders.updated_at
    mesh.orders.save()
    assert set(datasets_of(client_for(bob).get(URL).json())) == {"hr.census.adult"}


def test_anonymous_gets_no_export(mesh: Mesh) -> None:
    response = Client().get(URL)
    assert response.status_code in (401, 403)
    assert "hr.census" not in response.content.decode()
