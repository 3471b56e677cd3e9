import json
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.privacy.models import BudgetAccount, DatasetBudget, LedgerEntry, Policy
from apps.privacy.services import policy_save
from apps.usage.models import AuditEvent

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def state() -> tuple:
    return (
        list(Policy.objects.values_list("id", "epsilon_budget", "delta_budget", "access_mode").order_by("id")),
        list(DatasetBudget.objects.values_list("epsilon_limit", "delta_limit")),
        LedgerEntry.objects.count(),
        list(BudgetAccount.objects.values_list("epsilon_total", "epsilon_limit").order_by("id")),
    )


def new_policy(**amounts):
    return {"user": "bob", "scope": {"dataset": "hr.census.adult"}, **amounts}


@pytest.mark.parametrize(
    ("amounts", "field"),
    [
        ({"epsilon_budget": -1}, "epsilon_budget"),
        ({"epsilon_budget": "NaN"}, "epsilon_budget"),
        ({"epsilon_budget": "Infinity"}, "epsilon_budget"),
        ({"epsilon_budget": "-Infinity"}, "epsilon_budget"),
        ({"epsilon_budget": "lots"}, "epsilon_budget"),
        ({"epsilon_budget": [1]}, "epsilon_budget"),
        ({"epsilon_budget": 1e300}, "epsilon_budget"),
        ({"delta_budget": 1}, "delta_budget"),
        ({"delta_budget": -0.1}, "delta_budget"),
        ({"epsilon_per_release_cap": 0}, "epsilon_per_release_cap"),
        ({"access_mode": "everything"}, "access_mode"),
        ({"allowed_mechanisms": ["telepathy"]}, "allowed_mechanisms"),
        ({"expires_at": "someday"}, "expires_at"),
    ],
)
def test_it_refuses_bad_policy_amounts_with_a_message_naming_the_field(alice, funded_adult, amounts, field):
    before = state()
    response = api(alice).post("/api/v1/policies/", new_policy(**({"epsilon_budget": 1} | amounts)), format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["message"] or field in body.get("fields", {})
    assert state() == before


def test_it_refuses_a_policy_for_an_unknown_user(alice, funded_adult):
    response = api(alice).post("/api/v1/policies/", {"user": "mallory", "scope": {"dataset": "hr.census.adult"},
                                                      "epsilon_budget": 1}, format="json")
    assert response.status_code == 400
    assert "username" in response.json()["message"]
    assert not Policy.objects.exists()


def test_a_refused_request_body_that_is_not_json_gives_400_not_500(alice, funded_adult):
    response = api(alice).generic("POST", "/api/v1/policies/", "{" * 5000, content_type="application/json")
    assert response.status_code == 400
    response = api(alice).generic("POST", "/api/v1/policies/", json.dumps({"epsilon_budget": 1}) + "\x00",
                                  content_type="application/json")
    assert response.status_code == 400


def test_alice_grants_bob_a_budget_and_bob_sees_it(alice, bob, funded_adult):
    response = api(alice).post("/api/v1/policies/", new_policy(epsilon_budget="2", delta_budget="0.000001"),
                               format="json")
    assert response.status_code == 201, response.content
    mine = api(bob).get("/api/v1/budgets/").json()
    assert [grant["dataset"] for grant in mine] == ["hr.census.adult"]
    assert Decimal(mine[0]["balance"]["epsilon_remaining"]) == 2
    assert AuditEvent.objects.filter(action="policy.create", actor=alice).count() == 1


def test_bob_and_charlie_cannot_manage_policies(bob, charlie, funded_adult, bob_policy):
    assert api(bob).post("/api/v1/policies/", new_policy(epsilon_budget=100), format="json").status_code == 403
    assert api(charlie).post("/api/v1/policies/", new_policy(epsilon_budget=100), format="json").status_code == 404
    assert api(bob).patch(f"/api/v1/policies/{bob_policy.pk}/", {"epsilon_budget": 100},
                          format="json").status_code == 403
    assert api(charlie).get(f"/api/v1/policies/{bob_policy.pk}/").status_code == 404
    assert api(charlie).get("/api/v1/policies/").json()["results"] == []
    assert api(bob).get("/api/v1/datasets/hr.census.adult/budget/").status_code == 403
    assert api(charlie).get("/api/v1/datasets/hr.census.adult/budget/").status_code == 404
    assert Policy.objects.get().epsilon_budget == 1


def test_reservations_over_http_are_refused_clearly_and_charge_nothing(bob, funded_adult, bob_policy):
    client = api(bob)
    for epsilon in ("-0.1", "NaN", "Infinity", "abc", "0"):
        response = client.post("/api/v1/reservations/", {"dataset": "hr.census.adult", "mechanism": "laplace",
                                                         "epsilon": epsilon}, format="json")
        assert response.status_code == 400, (epsilon, response.content)
    response = client.post("/api/v1/reservations/", {"dataset": "hr.census.adult", "mechanism": "laplace",
                                                     "epsilon": "1.5"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "budget_exhausted"
    assert not LedgerEntry.objects.exists()


def test_an_expired_policy_is_refused_with_its_date(alice, bob, funded_adult):
    policy_save(actor=alice, scope=funded_adult, user=bob, expires_at=timezone.now() - timezone.timedelta(hours=1))
    response = api(bob).post("/api/v1/reservations/", {"dataset": "hr.census.adult", "mechanism": "laplace",
                                                       "epsilon": "0.1"}, format="json")
    assert response.status_code == 403
    assert "expired on" in response.json()["message"]
    assert not LedgerEntry.objects.exists()


def test_a_budget_cannot_be_set_below_what_was_spent(alice, bob, funded_adult, bob_policy):
    assert api(bob).post("/api/v1/reservations/", {"dataset": "hr.census.adult", "mechanism": "laplace",
                                                   "epsilon": "0.6"}, format="json").status_code == 201
    response = api(alice).patch(f"/api/v1/policies/{bob_policy.pk}/", {"epsilon_budget": "0.5"}, format="json")
    assert response.status_code == 400
    assert "bob has already spent or reserved epsilon 0.6" in response.json()["message"]
    assert Policy.objects.get().epsilon_budget == 1
    response = api(alice).put("/api/v1/datasets/hr.census.adult/budget/", {"epsilon_limit": "0.5"}, format="json")
    assert response.status_code == 400
    assert DatasetBudget.objects.get().epsilon_limit == 10


def test_the_cost_preview_charges_nothing(bob, funded_adult, bob_policy):
    response = api(bob).post("/api/v1/cost-preview/", {"dataset": "hr.census.adult", "mechanism": "gaussian",
                                                       "rho": "0.01"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is True
    assert Decimal(body["release_epsilon"]) > 0
    assert not LedgerEntry.objects.exists()


def test_only_api_reservations_can_be_released_through_the_api(bob, funded_adult, bob_policy):
    from apps.privacy.accountant import budget_reserve
    from apps.privacy.composition import PrivacyCost

    job_reservation = budget_reserve(actor=bob, dataset=funded_adult, cost=PrivacyCost(epsilon=Decimal("0.1")),
                                     mechanism="laplace", reference="query:1")
    response = api(bob).post(f"/api/v1/reservations/{job_reservation.pk}/release/")
    assert response.status_code == 400
    created = api(bob).post("/api/v1/reservations/", {"dataset": "hr.census.adult", "mechanism": "laplace",
                                                      "epsilon": "0.2"}, format="json").json()
    assert api(bob).post(f"/api/v1/reservations/{created['id']}/release/").json()["state"] == "released"


def test_an_access_request_is_approved_with_the_owners_amounts(alice, bob, funded_adult, mailoutbox,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = api(bob).post("/api/v1/access-requests/", {"dataset": "hr.census.adult", "epsilon": "5",
                                                             "reason": "Workforce study"}, format="json")
    assert created.status_code == 201
    assert api(bob).post("/api/v1/access-requests/", {"dataset": "hr.census.adult", "epsilon": "5",
                                                      "reason": "again"}, format="json").status_code == 409
    request_id = created.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        decided = api(alice).post(f"/api/v1/access-requests/{request_id}/approve/",
                                  {"epsilon_budget": "2", "comment": "Start with 2"}, format="json")
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "approved"
    assert Policy.objects.get(user=bob).epsilon_budget == 2
    assert len(mailoutbox) == 2
    assert api(bob).post(f"/api/v1/access-requests/{request_id}/deny/", {}, format="json").status_code == 403


def test_an_expiry_given_as_a_date_is_midnight_utc(alice, funded_adult):
    response = api(alice).post("/api/v1/policies/", new_policy(epsilon_budget=1, expires_at="2030-01-01"),
                               format="json")
    assert response.status_code == 201, response.content
    assert response.json()["expires_at"].startswith("2030-01-01T00:00:00")


def test_approving_more_budget_keeps_the_mechanisms_and_cap_already_granted(alice, bob, funded_adult):
    policy_save(actor=alice, scope=funded_adult, user=bob, allowed_mechanisms=["gaussian"],
                epsilon_per_release_cap="0.5")
    created = api(bob).post("/api/v1/access-requests/", {"dataset": "hr.census.adult", "epsilon": "3",
                                                         "reason": "more rounds"}, format="json").json()
    assert api(alice).post(f"/api/v1/access-requests/{created['id']}/approve/", {}, format="json").status_code == 200
    policy = Policy.objects.get(user=bob)
    assert (policy.epsilon_budget, policy.allowed_mechanisms) == (Decimal(3), ["gaussian"])
    assert policy.epsilon_per_release_cap == Decimal("0.5")


def test_a_product_owner_sees_no_access_requests_they_cannot_decide(alice, bob, funded_adult):
    from tests.factories import DataProductFactory, UserFactory

    paula = UserFactory(username="paula")
    product = DataProductFactory(domain=funded_adult.domain)
    product.owners.add(paula)
    funded_adult.product = product
    funded_adult.save()
    api(bob).post("/api/v1/access-requests/", {"dataset": "hr.census.adult", "epsilon": "1", "reason": "study"},
                  format="json")
    assert api(paula).get("/api/v1/access-requests/").json()["results"] == []
    assert len(api(alice).get("/api/v1/access-requests/").json()["results"]) == 1
