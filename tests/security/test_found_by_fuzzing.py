"""What the permission matrix and the fuzzer found, each pinned by the answer a client sees."""

import json

import pytest
from django.test import Client

from apps.catalog.models import Dataset
from apps.domains.models import Sensitivity
from apps.privacy.models import AccessMode, AccessRequest, Policy
from apps.privacy.requests import access_request_create
from apps.privacy.services import dataset_budget_set
from tests.conftest import client_for
from tests.factories import BackendFactory, DatasetFactory
from tests.queries.conftest import add_adult_columns

pytestmark = pytest.mark.django_db


@pytest.fixture
def adult(hr, alice) -> Dataset:
    dataset = DatasetFactory(
        domain=hr, table_name="adult", address="hr.census.adult", sensitivity=Sensitivity.CONFIDENTIAL,
        privacy_unit_column="person_id", max_rows_per_unit=1, backend=BackendFactory(domain=hr),
    )  # fmt: skip
    add_adult_columns(dataset)
    dataset_budget_set(actor=alice, dataset=dataset, epsilon_limit="10", delta_limit="0.00001")
    return dataset


@pytest.fixture
def bob_request(adult, bob) -> AccessRequest:
    return access_request_create(actor=bob, dataset=adult, access_mode=AccessMode.DP, epsilon="2", reason="A study.")


def post(client, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_an_owner_approves_a_request_with_the_mechanisms_the_api_documents(bob_request, alice, bob) -> None:
    response = post(
        client_for(alice),
        f"/api/v1/access-requests/{bob_request.pk}/approve/",
        {"epsilon_budget": "2", "allowed_mechanisms": ["laplace"]},
    )

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved" and response.json()["decided_by"] == "alice"
    assert Policy.objects.get(user=bob, dataset=bob_request.dataset).allowed_mechanisms == ["laplace"]


def test_an_analyst_approving_with_mechanisms_is_refused_not_a_server_error(bob_request, bob) -> None:
    response = post(
        client_for(bob),
        f"/api/v1/access-requests/{bob_request.pk}/approve/",
        {"allowed_mechanisms": ["laplace"]},
    )

    assert response.status_code == 403 and "owners" in response.json()["message"]


def test_a_zcdp_cost_preview_without_a_delta_to_convert_at_reports_an_unbounded_epsilon(adult, admin_user) -> None:
    body = {"dataset": adult.address, "mechanism": "gaussian", "rho": "0.1"}

    response = post(client_for(admin_user), "/api/v1/cost-preview/", body)

    assert response.status_code == 200, response.content
    assert response.json()["release_epsilon"] is None and response.json()["allowed"] is False


def test_a_synthetic_data_cost_for_someone_without_a_policy_is_an_answer_not_a_server_error(adult, alice) -> None:
    body = {"dataset": adult.address, "synthesizer": "mst", "columns": ["age"], "epsilon": "0.5", "rows": 5}

    response = post(client_for(alice), "/api/v1/synth/cost/", body)

    assert response.status_code == 200, response.content
    assert response.json()["allowed"] is False and response.json()["release_epsilon"] is None


def test_an_api_address_that_matches_no_route_answers_json(bob) -> None:
    response = client_for(bob).get("/api/v1/domains/not a slug/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json()["code"] == "not_found"
    assert client_for(bob).get("/no/such/page/")["Content-Type"].startswith("text/html")


def test_the_api_asks_anonymous_callers_to_authenticate_with_401(db) -> None:
    response = Client().get("/api/v1/datasets/")
    bad_token = Client().get("/api/v1/datasets/", HTTP_AUTHORIZATION="Token not-a-token")

    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")
    assert bad_token.status_code == 401
