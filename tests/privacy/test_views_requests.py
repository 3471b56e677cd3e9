"""Bob asks for access through the pages, alice decides; both see the state. And bob's own page."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.core import mail

from apps.accounts.models import User
from apps.privacy.accountant import budget_commit, budget_release, budget_reserve
from apps.privacy.composition import PrivacyCost
from apps.privacy.models import AccessRequest, Mechanism, Policy
from apps.privacy.requests import access_request_create
from apps.usage.models import AuditEvent
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ADULT = "hr.census.adult"
ASK = {"dataset": ADULT, "access_mode": "dp", "epsilon": "2", "delta": "0", "reason": "Pay gap study."}


def text(response) -> str:
    return unescape(response.content.decode())


@pytest.fixture
def bob_request(funded_adult, bob: User) -> AccessRequest:
    return access_request_create(actor=bob, dataset=funded_adult, access_mode="dp", epsilon="2", reason="A study.")


def test_bob_asks_for_access_and_the_owners_are_told(funded_adult, bob, alice, django_capture_on_commit_callbacks):
    client = client_for(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/privacy/requests/new/", ASK)
    request = AccessRequest.objects.get(requester=bob)
    assert response.status_code == 302 and response["Location"] == f"/privacy/requests/{request.pk}/"
    assert (request.epsilon, request.reason, request.status) == (Decimal(2), "Pay gap study.", "pending")
    assert AuditEvent.objects.filter(action="access_request.create", actor=bob).count() == 1
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]
    page = text(client.get(response["Location"]))
    assert "Your request was sent to the owners of hr.census.adult." in page and "Pending" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epsilon", "-1", "epsilon must be at least zero."),
        ("epsilon", "NaN", "epsilon must be a finite number."),
        ("epsilon", "two", "epsilon must be a number."),
        ("delta", "2", "delta must be at most 1."),
        ("reason", "  ", "Give a reason (at most 5000 characters)."),
    ],
)
def test_a_bad_request_is_a_400_next_to_the_field(funded_adult, bob, field: str, value: str, message: str) -> None:
    response = client_for(bob).post("/privacy/requests/new/", {**ASK, field: value})
    assert response.status_code == 400
    assert f'id="id_{field}_error"' in text(response) and message in text(response)
    assert not AccessRequest.objects.exists()


def test_a_second_pending_request_is_refused_with_a_clear_message(bob_request, bob) -> None:
    response = client_for(bob).post("/privacy/requests/new/", ASK)
    assert response.status_code == 409
    assert "You already have a pending request on hr.census.adult." in text(response)
    assert AccessRequest.objects.count() == 1


def test_the_decision_form_is_prefilled_with_the_requested_amounts(bob_request, alice) -> None:
    body = text(client_for(alice).get(f"/privacy/requests/{bob_request.pk}/"))
    assert re.search(r'name="epsilon_budget" value="2"', body)
    assert 'value="approve"' in body and 'value="deny"' in body


def test_bob_sees_no_decision_form_on_his_own_request(bob_request, bob) -> None:
    body = text(client_for(bob).get(f"/privacy/requests/{bob_request.pk}/"))
    assert 'name="decision"' not in body and "Withdraw the request" in body


def test_alice_approves_with_her_own_amount_and_bob_gets_that_budget(
    bob_request, alice, bob, django_capture_on_commit_callbacks
) -> None:
    decision = {
        "decision": "approve",
        "access_mode": "dp",
        "epsilon_budget": "1.5",
        "delta_budget": "0.000001",
        "comment": "Granted for Q3.",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(alice).post(f"/privacy/requests/{bob_request.pk}/decide/", decision)
    assert response.status_code == 302
    policy = Policy.objects.get(user=bob, dataset__address=ADULT)
    assert (policy.epsilon_budget, policy.delta_budget) == (Decimal("1.5"), Decimal("0.000001"))
    bob_request.refresh_from_db()
    assert (bob_request.status, bob_request.decided_by, bob_request.policy) == ("approved", alice, policy)
    assert [sorted(m.to) for m in mail.outbox if "approved" in m.subject] == [["alice@example.org", "bob@example.org"]]
    assert AuditEvent.objects.filter(action="access_request.approve", actor=alice).count() == 1
    assert AuditEvent.objects.filter(action="policy.create", actor=alice).count() == 1

    page = text(client_for(bob).get("/privacy/me/"))
    grant = re.search(r'<tr id="grant-\d+">.*?</tr>', page, re.S).group(0)
    assert ADULT in grant and '<td class="num budget">1.5</td>' in grant and "<strong>1.5</strong>" in grant
    assert "Approved" in page
    detail = text(client_for(bob).get(f"/privacy/requests/{bob_request.pk}/"))
    assert "Granted for Q3." in detail and "Approved" in detail


def test_an_invalid_approval_is_a_400_and_the_request_stays_pending(bob_request, alice) -> None:
    decision = {"decision": "approve", "access_mode": "dp", "epsilon_budget": "-3", "delta_budget": "0"}
    response = client_for(alice).post(f"/privacy/requests/{bob_request.pk}/decide/", decision)
    assert response.status_code == 400
    assert 'id="id_epsilon_budget_error"' in text(response)
    assert "epsilon_budget must be at least zero." in text(response)
    bob_request.refresh_from_db()
    assert bob_request.status == "pending" and not Policy.objects.exists()


def test_an_approval_below_what_bob_already_spent_shows_why(bob_policy, funded_adult, bob, alice) -> None:
    entry = budget_reserve(
        actor=bob, dataset=funded_adult, cost=PrivacyCost(epsilon=Decimal("0.8")), mechanism=Mechanism.LAPLACE
    )
    budget_commit(reservation=entry)
    request = access_request_create(actor=bob, dataset=funded_adult, access_mode="dp", epsilon="3", reason="More.")
    decision = {"decision": "approve", "access_mode": "dp", "epsilon_budget": "0.5", "delta_budget": "0.000001"}
    response = client_for(alice).post(f"/privacy/requests/{request.pk}/decide/", decision)
    assert response.status_code == 400
    assert "bob has already spent or reserved epsilon 0.8" in text(response)
    request.refresh_from_db()
    assert request.status == "pending"


def test_alice_denies_with_a_comment_and_bob_sees_it(bob_request, alice, bob) -> None:
    response = client_for(alice).post(
        f"/privacy/requests/{bob_request.pk}/decide/", {"decision": "deny", "comment": "Use the synthetic data."}
    )
    assert response.status_code == 302
    bob_request.refresh_from_db()
    assert bob_request.status == "denied" and not Policy.objects.exists()
    page = text(client_for(bob).get(f"/privacy/requests/{bob_request.pk}/"))
    assert "Denied" in page and "Use the synthetic data." in page


def test_a_decided_request_cannot_be_decided_again(bob_request, alice) -> None:
    client = client_for(alice)
    client.post(f"/privacy/requests/{bob_request.pk}/decide/", {"decision": "deny"})
    response = client.post(f"/privacy/requests/{bob_request.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 409
    assert "This request is already denied." in text(response)
    assert not Policy.objects.exists()


def test_a_decision_must_be_approve_or_deny(bob_request, alice) -> None:
    response = client_for(alice).post(f"/privacy/requests/{bob_request.pk}/decide/", {"decision": "maybe"})
    assert response.status_code == 400 and "Choose to approve or to deny the request." in text(response)


def test_bob_withdraws_his_request_but_alice_cannot(bob_request, alice, bob) -> None:
    refused = client_for(alice).post(f"/privacy/requests/{bob_request.pk}/withdraw/")
    assert refused.status_code == 400 and "Only the requester can withdraw a request." in text(refused)
    response = client_for(bob).post(f"/privacy/requests/{bob_request.pk}/withdraw/")
    assert response.status_code == 302
    bob_request.refresh_from_db()
    assert bob_request.status == "withdrawn"
    assert "Withdrawn" in text(client_for(alice).get("/privacy/requests/"))


def test_bob_s_page_shows_his_reservations_with_their_state(bob_policy, funded_adult, bob) -> None:
    charged = budget_reserve(
        actor=bob,
        dataset=funded_adult,
        cost=PrivacyCost(epsilon=Decimal("0.25")),
        mechanism=Mechanism.LAPLACE,
        reference="query 1",
    )
    budget_commit(reservation=charged)
    released = budget_reserve(
        actor=bob,
        dataset=funded_adult,
        cost=PrivacyCost(epsilon=Decimal("0.125")),
        mechanism=Mechanism.LAPLACE,
        reference="query 2",
    )
    budget_release(reservation=released)
    budget_reserve(
        actor=bob,
        dataset=funded_adult,
        cost=PrivacyCost(epsilon=Decimal("0.5")),
        mechanism=Mechanism.LAPLACE,
        reference="query 3",
    )
    page = text(client_for(bob).get("/privacy/me/"))
    history = re.search(r'<table class="data-table history">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<code class=\"small\">(query \d)</code></td>\s*<td><span class=\"state state-(\w+)\">", history)
    assert rows == [("query 3", "reserved"), ("query 2", "released"), ("query 1", "charged")]
    grant = re.search(r'<tr id="grant-\d+">.*?</tr>', page, re.S).group(0)
    assert re.findall(r'<td class="num[^"]*">(?:<strong>)?([^<]*)', grant)[:4] == ["1", "0.25", "0.5", "0.25"]


def test_charlie_s_page_shows_nothing_of_bob(bob_policy, funded_adult, bob, charlie) -> None:
    budget_reserve(
        actor=bob,
        dataset=funded_adult,
        cost=PrivacyCost(epsilon=Decimal("0.5")),
        mechanism=Mechanism.LAPLACE,
        reference="query 1",
    )
    page = text(client_for(charlie).get("/privacy/me/"))
    assert ADULT not in page and "query 1" not in page


def test_an_admin_sees_bob_s_page(bob_policy, admin_user) -> None:
    page = text(client_for(admin_user).get("/privacy/users/bob/"))
    assert "Privacy budgets of bob" in page and ADULT in page
