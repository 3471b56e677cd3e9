from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.catalog.models import Column, DataProduct, Dataset
from apps.domains.models import Domain
from apps.usage.models import AuditEvent
from tests.catalog.test_api_fixtures import Mesh, build_mesh, catalog_state
from tests.conftest import client_for
from tests.factories import ColumnFactory, UserFactory

API = "/api/v1"
HR_WRITES = [
    ("patch", f"{API}/domains/hr/", {"description": "x"}),
    ("post", f"{API}/domains/hr/products/", {"slug": "payroll"}),
    ("patch", f"{API}/domains/hr/products/census/", {"description": "x"}),
    ("patch", f"{API}/datasets/hr.census.adult/", {"description": "x"}),
    ("patch", f"{API}/datasets/hr.census.adult/columns/age/", {"description": "x"}),
]


@pytest.fixture
def mesh(hr: Domain, alice: User) -> Mesh:
    return build_mesh(hr=hr, alice=alice)


def send(client: Client, method: str, url: str, body: Any) -> Any:
    return getattr(client, method)(url, body, content_type="application/json")


@pytest.mark.parametrize(("method", "url", "body"), HR_WRITES)
def test_charlie_gets_404_on_every_hr_write(mesh: Mesh, charlie: User, method: str, url: str, body: Any) -> None:
    before = catalog_state()
    response = send(client_for(charlie), method, url, body)
    assert response.status_code == 404
    assert catalog_state() == before


@pytest.mark.parametrize(("method", "url", "body"), HR_WRITES)
def test_bob_sees_hr_but_gets_403_on_every_write(mesh: Mesh, bob: User, method: str, url: str, body: Any) -> None:
    before = catalog_state()
    response = send(client_for(bob), method, url, body)
    assert response.status_code == 403
    assert "owners" in response.json()["message"]
    assert catalog_state() == before


@pytest.mark.parametrize(("method", "url", "body"), HR_WRITES)
def test_bob_gets_403_even_with_a_bad_body(mesh: Mesh, bob: User, method: str, url: str, body: Any) -> None:
    response = getattr(client_for(bob), method)(url, b"{not json", content_type="application/json")
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "url", "body"), HR_WRITES)
def test_anonymous_writes_are_refused(mesh: Mesh, method: str, url: str, body: Any) -> None:
    before = catalog_state()
    assert send(Client(), method, url, body).status_code in (401, 403)
    assert catalog_state() == before


@pytest.mark.parametrize(("method", "url", "body"), HR_WRITES)
def test_an_admin_can_write_everywhere(mesh: Mesh, admin_user: User, method: str, url: str, body: Any) -> None:
    assert send(client_for(admin_user), method, url, body).status_code in (200, 201)


def test_alice_edits_a_column_and_the_change_is_audited(mesh: Mesh, alice: User) -> None:
    response = client_for(alice).patch(
        f"{API}/datasets/hr.census.adult/columns/age/",
        {"lower_bound": "18", "upper_bound": 99, "description": "Age in years", "tags": ["demographics"]},
        content_type="application/json",
        HTTP_X_REQUEST_ID="req-col-1",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["lower_bound"], body["upper_bound"]) == ("18", "99")
    assert body["description"] == "Age in years"
    assert body["tags"] == ["demographics"]
    event = AuditEvent.objects.get(action="column.update")
    assert event.actor == alice and event.request_id == "req-col-1"
    assert event.details["before"]["upper_bound"] == "90.0000000000"
    assert event.details["after"]["upper_bound"] == "99"
    assert event.details["after"]["tags"] == ["demographics"]


def test_alice_edits_a_dataset(mesh: Mesh, alice: User) -> None:
    response = client_for(alice).patch(
        f"{API}/datasets/hr.census.adult/",
        {"description": "New", "tags": ["census", "people"], "max_rows_per_unit": 2, "privacy_unit_column": "age",
         "product": None},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["tags"] == ["census", "people"]
    assert (body["max_rows_per_unit"], body["privacy_unit_column"], body["product"]) == (2, "age", None)
    assert len(body["columns"]) == 3
    event = AuditEvent.objects.get(action="dataset.update")
    assert event.details["before"]["max_rows_per_unit"] == 1
    assert event.details["after"]["product"] is None


def test_alice_moves_a_dataset_into_another_product_of_its_domain(mesh: Mesh, alice: User) -> None:
    DataProduct.objects.create(domain=mesh.hr, slug="payroll", name="Payroll")
    response = client_for(alice).patch(
        f"{API}/datasets/hr.census.adult/", {"product": "payroll"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert Dataset.objects.get(address="hr.census.adult").product.slug == "payroll"


def test_alice_edits_the_domain(mesh: Mesh, alice: User) -> None:
    response = client_for(alice).patch(
        f"{API}/domains/hr/", {"name": "People", "visible_to_groups": []}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "People"
    assert response.json()["visible_to_groups"] == []
    event = AuditEvent.objects.get(action="domain.update")
    assert event.details == {
        "before": {"name": "Human Resources", "visible_to_groups": ["analysts"]},
        "after": {"name": "People", "visible_to_groups": []},
    }


def test_alice_creates_and_edits_a_product(mesh: Mesh, alice: User) -> None:
    client = client_for(alice)
    created = client.post(
        f"{API}/domains/hr/products/",
        {"slug": "payroll", "name": "Payroll", "tags": ["money"], "freshness_hours": 24},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["owners"] == ["alice"]
    assert created.json()["freshness_hours"] == 24
    changed = client.patch(
        f"{API}/domains/hr/products/payroll/", {"status": "deprecated", "owners": ["alice", "bob"]},
        content_type="application/json",
    )
    assert changed.status_code == 200
    assert (changed.json()["status"], changed.json()["owners"]) == ("deprecated", ["alice", "bob"])
    assert AuditEvent.objects.filter(action__in=["product.create", "product.update"]).count() == 2


def test_a_product_owner_edits_the_product_datasets_but_not_the_domain(mesh: Mesh) -> None:
    dora = UserFactory(username="dora")
    mesh.census.owners.add(dora)
    client = client_for(dora)
    assert client.patch(f"{API}/datasets/hr.census.adult/", {"description": "d"},
                        content_type="application/json").status_code == 200
    assert client.patch(f"{API}/domains/hr/", {"description": "d"},
                        content_type="application/json").status_code == 403


def test_an_empty_patch_changes_nothing(mesh: Mesh, alice: User) -> None:
    before = catalog_state()
    response = client_for(alice).patch(f"{API}/datasets/hr.census.adult/", {}, content_type="application/json")
    assert response.status_code == 200
    assert catalog_state() == before


REFUSALS = [
    ("column age", {"lower_bound": 50, "upper_bound": 50}, "lower_bound", "below the upper bound"),
    ("column age", {"lower_bound": 60, "upper_bound": "20"}, "lower_bound", "below the upper bound"),
    ("column age", {"lower_bound": 95}, "lower_bound", "below the upper bound"),
    ("column age", {"lower_bound": "NaN", "upper_bound": 5}, "lower_bound", "finite"),
    ("column age", {"upper_bound": "Infinity"}, "upper_bound", "finite"),
    ("column age", {"lower_bound": None}, "lower_bound", "both bounds"),
    ("column age", {"lower_bound": "ten", "upper_bound": 5}, "lower_bound", "number"),
    ("column age", {"upper_bound": True}, "upper_bound", "number"),
    ("column workclass", {"lower_bound": 0, "upper_bound": 5}, "lower_bound", "numeric columns"),
    ("column workclass", {"categories": ["Private", "Private"]}, "categories", "unique"),
    ("column workclass", {"categories": ["Private", " "]}, "categories", "empty"),
    ("column workclass", {"categories": "Private"}, "categories", "list"),
    ("column age", {"classification": "secret"}, "classification", "one of"),
    ("column age", {"tags": ["!!!"]}, "tags", "letters or digits"),
    ("column age", {"decsription": "typo"}, "decsription", "Unknown field"),
    ("dataset", {"privacy_unit_column": "nobody"}, "privacy_unit_column", "one of the dataset's columns"),
    ("dataset", {"privacy_unit_column": "dropped"}, "privacy_unit_column", "one of the dataset's columns"),
    ("dataset", {"sensitivity": "open"}, "sensitivity", "must stay confidential"),
    ("dataset", {"max_rows_per_unit": 0}, "max_rows_per_unit", "between 1 and"),
    ("dataset", {"max_rows_per_unit": 1.5}, "max_rows_per_unit", "integer"),
    ("dataset", {"product": "shop"}, "product", "No product"),
    ("dataset", {"description": 42}, "description", "valid string"),
    ("dataset", {"description": "x" * 20_001}, "description", "at most"),
    ("domain", {"sensitivity": "public"}, "sensitivity", "one of"),
    ("domain", {"visible_to_groups": ["no-such-group"]}, "visible_to_groups", "exist"),
    ("domain", {"visible_to_groups": "analysts"}, "visible_to_groups", "list of strings"),
    ("product", {"owners": ["ghost"]}, "owners", "active user"),
    ("product", {"status": "exploded"}, "status", "one of"),
    ("product", {"freshness_hours": -3}, "freshness_hours", "between"),
    ("new product", {"slug": "census"}, "slug", "already exists"),
    ("new product", {"slug": "!!!"}, "slug", "letters or digits"),
    ("new product", {"name": "No slug"}, "slug", "required"),
]
TARGETS = {
    "column age": ("patch", f"{API}/datasets/hr.census.adult/columns/age/"),
    "column workclass": ("patch", f"{API}/datasets/hr.census.adult/columns/workclass/"),
    "dataset": ("patch", f"{API}/datasets/hr.census.adult/"),
    "domain": ("patch", f"{API}/domains/hr/"),
    "product": ("patch", f"{API}/domains/hr/products/census/"),
    "new product": ("post", f"{API}/domains/hr/products/"),
}


@pytest.mark.parametrize(("target", "body", "field", "words"), REFUSALS)
def test_invalid_changes_are_a_400_naming_the_field_and_problem(
    mesh: Mesh, alice: User, target: str, body: dict[str, Any], field: str, words: str
) -> None:
    before = catalog_state()
    method, url = TARGETS[target]
    response = send(client_for(alice), method, url, body)
    assert response.status_code == 400
    error = response.json()
    assert field in error["fields"]
    assert words in error["message"]
    assert catalog_state() == before


def test_a_refusal_never_echoes_a_category(mesh: Mesh, alice: User) -> None:
    response = client_for(alice).patch(
        f"{API}/datasets/hr.census.adult/columns/workclass/", {"categories": ["Sikh-Sunni", "Sikh-Sunni"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "Sikh" not in response.content.decode()


def test_bounds_on_a_removed_column_are_not_reachable(mesh: Mesh, alice: User) -> None:
    response = client_for(alice).patch(
        f"{API}/datasets/hr.census.adult/columns/dropped/", {"description": "x"}, content_type="application/json"
    )
    assert response.status_code == 404


def test_a_dataset_of_an_open_domain_can_be_made_confidential(mesh: Mesh, alice: User) -> None:
    ColumnFactory(dataset=mesh.orders, name="customer", logical_type=Column.LogicalType.STRING)
    response = client_for(alice).patch(
        f"{API}/datasets/sales.shop.orders/", {"sensitivity": "confidential"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert (response.json()["sensitivity"], response.json()["row_count"]) == ("confidential", None)


def test_a_deactivated_owner_can_no_longer_write(mesh: Mesh, alice: User) -> None:
    client = client_for(alice)
    alice.is_active = False
    alice.save()
    response = client.patch(f"{API}/domains/hr/", {"description": "x"}, content_type="application/json")
    assert response.status_code in (401, 403)
