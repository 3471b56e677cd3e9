"""Alice manages hr.census.adult's policies and budget through the pages: changes are saved and
audited; bad input is a 400 naming the problem, in place, with nothing changed."""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.privacy.accountant import budget_commit, budget_release, budget_reserve
from apps.privacy.composition import PrivacyCost
from apps.privacy.models import DatasetBudget, LedgerEntry, Mechanism, Policy
from apps.usage.models import AuditEvent
from tests.conftest import client_for
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
EDITOR = "/privacy/datasets/hr.census.adult/"
VALID = {
    "access_mode": "dp",
    "epsilon_budget": "3",
    "delta_budget": "0.000001",
    "epsilon_per_release_cap": "0.5",
    "allowed_mechanisms": ["laplace", "gaussian"],
    "expires_at": "",
}


def text(response) -> str:
    return unescape(response.content.decode())


def spend(user: User, dataset: Dataset, epsilon: str, *, commit: bool = True) -> LedgerEntry:
    entry = budget_reserve(
        actor=user, dataset=dataset, cost=PrivacyCost(epsilon=Decimal(epsilon)), mechanism=Mechanism.LAPLACE
    )
    if commit:
        budget_commit(reservation=entry)
    return entry


def test_the_editor_shows_budget_policies_and_each_account_s_balance(bob_policy, funded_adult, bob, alice) -> None:
    spend(bob, funded_adult, "0.25")
    spend(bob, funded_adult, "0.125", commit=False)
    body = text(client_for(alice).get(EDITOR))
    assert f'id="policy-{bob_policy.pk}"' in body
    account = re.search(r'<tr id="account-bob">(.*?)</tr>', body, re.S).group(1)
    assert re.findall(r'<td class="num">(?:<strong>)?([^<]*)', account) == [
        "1",
        "0.25",
        "0.125",
        "0.625",
        "0 / 0.000001",
    ]
    budget = re.search(r'<section id="dataset-budget".*?</section>', body, re.S).group(0)
    facts = re.findall(r'<dd class="num">(?:<strong>)?([^<]*)', budget)
    assert facts == ["10", "0.25", "0.125", "9.625", "0 used of 0.00001"]


def test_alice_creates_a_group_policy_in_place_and_it_is_audited(funded_adult, alice) -> None:
    GroupFactory(name="analysts")
    data = {**VALID, "subject": "group:analysts", "scope": "dataset"}
    response = client_for(alice).post(f"{EDITOR}policies/new/", data, HTTP_X_REQUEST_ID="req-create-1", **HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#policies"
    assert text(response).startswith('<section id="policies"')
    assert "Saved the policy of group:analysts." in text(response)
    policy = Policy.objects.get(group__name="analysts", dataset=funded_adult)
    assert (policy.epsilon_budget, policy.delta_budget, policy.epsilon_per_release_cap) == (
        Decimal(3),
        Decimal("0.000001"),
        Decimal("0.5"),
    )
    assert policy.allowed_mechanisms == ["gaussian", "laplace"]
    assert policy.expires_at is None
    event = AuditEvent.objects.get(action="policy.create")
    assert event.actor == alice and event.request_id == "req-create-1"
    assert event.details["after"]["epsilon_budget"] == "3"


def test_a_domain_wide_policy_can_be_created_from_the_dataset_editor(funded_adult, alice, bob) -> None:
    response = client_for(alice).post(f"{EDITOR}policies/new/", {**VALID, "subject": "user:bob", "scope": "domain"})
    assert response.status_code == 302
    assert response["Location"] == f"{EDITOR}#policies"
    assert Policy.objects.get(user=bob).domain == funded_adult.domain


def test_alice_edits_bob_s_policy_in_place_and_the_change_is_audited(bob_policy, alice) -> None:
    client = client_for(alice)
    form = text(client.get(f"{EDITOR}policies/{bob_policy.pk}/edit/", **HX))
    assert form.startswith(f'<tr id="policy-{bob_policy.pk}" class="editing">')
    assert 'name="epsilon_budget"' in form and 'value="1"' in form
    response = client.post(f"{EDITOR}policies/{bob_policy.pk}/edit/", {**VALID, "epsilon_budget": "4"}, **HX)
    assert response.status_code == 200
    bob_policy.refresh_from_db()
    assert bob_policy.epsilon_budget == 4
    event = AuditEvent.objects.get(action="policy.update")
    assert (event.details["before"]["epsilon_budget"], event.details["after"]["epsilon_budget"]) == (
        "1.000000000000",
        "4",
    )
    row = re.search(rf'<tr id="policy-{bob_policy.pk}">.*?</tr>', text(response), re.S).group(0)
    assert '<td class="num">4</td>' in row


def test_an_expiry_date_is_saved_as_midnight_utc_and_shown_in_the_row(bob_policy, alice) -> None:
    url = f"{EDITOR}policies/{bob_policy.pk}/edit/"
    response = client_for(alice).post(url, {**VALID, "expires_at": "2031-01-31"}, **HX)
    assert response.status_code == 200
    bob_policy.refresh_from_db()
    assert bob_policy.expires_at == datetime(2031, 1, 31, tzinfo=UTC)
    row = re.search(rf'<tr id="policy-{bob_policy.pk}">.*?</tr>', text(response), re.S).group(0)
    assert "2031-01-31" in row


def test_the_edit_form_works_without_javascript(bob_policy, alice) -> None:
    client = client_for(alice)
    page = client.get(f"{EDITOR}policies/{bob_policy.pk}/edit/")
    assert page.status_code == 200 and "<html" in text(page) and "hx-post" not in text(page)
    response = client.post(f"{EDITOR}policies/{bob_policy.pk}/edit/", {**VALID, "epsilon_budget": "2"})
    assert response.status_code == 302
    bob_policy.refresh_from_db()
    assert bob_policy.epsilon_budget == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epsilon_budget", "-1", "epsilon_budget must be at least zero."),
        ("epsilon_budget", "NaN", "epsilon_budget must be a finite number."),
        ("epsilon_budget", "Infinity", "epsilon_budget must be a finite number."),
        ("epsilon_budget", "lots", "epsilon_budget must be a number."),
        ("epsilon_budget", "", "epsilon_budget must be a number."),
        ("delta_budget", "1", "delta_budget must be below 1."),
        ("epsilon_per_release_cap", "0", "epsilon_per_release_cap must be above zero."),
        ("access_mode", "everything", "access_mode must be one of"),
        ("allowed_mechanisms", ["magic"], "Unknown mechanism: magic"),
        ("allowed_mechanisms", [], "Allow at least one mechanism."),
        ("expires_at", "next week", "expires_at must be a date"),
    ],
)
def test_invalid_input_is_a_400_next_to_the_field_and_changes_nothing(
    bob_policy, alice, field: str, value, message: str
) -> None:
    url = f"{EDITOR}policies/{bob_policy.pk}/edit/"
    response = client_for(alice).post(url, {**VALID, field: value}, **HX)
    body = text(response)
    assert response.status_code == 400
    assert body.startswith(f'<tr id="policy-{bob_policy.pk}" class="editing">')
    assert f'id="id_policy{bob_policy.pk}_{field}_error"' in body
    assert message in body
    bob_policy.refresh_from_db()
    assert bob_policy.epsilon_budget == 1 and bob_policy.epsilon_per_release_cap is None
    assert not AuditEvent.objects.filter(action="policy.update").exists()


def test_a_budget_below_what_bob_spent_is_refused_with_the_reason(bob_policy, funded_adult, bob, alice) -> None:
    spend(bob, funded_adult, "0.6")
    response = client_for(alice).post(
        f"{EDITOR}policies/{bob_policy.pk}/edit/", {**VALID, "epsilon_budget": "0.5"}, **HX
    )
    assert response.status_code == 400
    assert (
        "bob has already spent or reserved epsilon 0.6 and delta 0 on hr.census.adult: "
        "the budget cannot go below that." in text(response)
    )
    bob_policy.refresh_from_db()
    assert bob_policy.epsilon_budget == 1


def test_creating_a_policy_needs_a_subject(funded_adult, alice) -> None:
    response = client_for(alice).post(f"{EDITOR}policies/new/", {**VALID, "subject": "user:nobody"}, **HX)
    assert response.status_code == 400
    assert text(response).startswith('<div id="policy-create"')
    assert "Choose an active user or a group." in text(response)
    assert not Policy.objects.exists()


def test_revoking_asks_for_confirmation_then_removes_the_policy_with_an_audit_row(bob_policy, alice) -> None:
    client = client_for(alice)
    url = f"{EDITOR}policies/{bob_policy.pk}/revoke/"
    confirm = text(client.get(url, **HX))
    assert "Revoke the policy of bob on hr.census.adult?" in confirm
    unconfirmed = client.post(url, {}, **HX)
    assert unconfirmed.status_code == 400 and Policy.objects.filter(pk=bob_policy.pk).exists()
    response = client.post(url, {"confirm": "revoke"}, **HX)
    assert response.status_code == 200 and response["HX-Retarget"] == "#policies"
    assert "Revoked the policy of bob." in text(response)
    assert not Policy.objects.filter(pk=bob_policy.pk).exists()
    event = AuditEvent.objects.get(action="policy.revoke")
    assert event.actor == alice and event.details["after"] is None


def test_alice_sets_the_dataset_wide_budget_in_place(adult, alice) -> None:
    response = client_for(alice).post(f"{EDITOR}budget/", {"epsilon_limit": "5", "delta_limit": "0.00001"}, **HX)
    assert response.status_code == 200
    assert text(response).startswith('<section id="dataset-budget"') and "Saved." in text(response)
    budget = DatasetBudget.objects.get(dataset=adult)
    assert (budget.epsilon_limit, budget.delta_limit) == (Decimal(5), Decimal("0.00001"))
    assert AuditEvent.objects.filter(action="dataset_budget.set", actor=alice).count() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-2", "epsilon_limit must be at least zero."),
        ("NaN", "epsilon_limit must be a finite number."),
        ("ten", "epsilon_limit must be a number."),
    ],
)
def test_an_invalid_dataset_budget_is_a_400_in_place(funded_adult, alice, value: str, message: str) -> None:
    response = client_for(alice).post(f"{EDITOR}budget/", {"epsilon_limit": value, "delta_limit": "0"}, **HX)
    assert response.status_code == 400
    assert 'id="id_budget_epsilon_limit_error"' in text(response) and message in text(response)
    assert DatasetBudget.objects.get(dataset=funded_adult).epsilon_limit == 10


def test_the_dataset_budget_cannot_go_below_what_was_spent(bob_policy, funded_adult, bob, alice) -> None:
    spend(bob, funded_adult, "0.75")
    response = client_for(alice).post(f"{EDITOR}budget/", {"epsilon_limit": "0.5", "delta_limit": "0.00001"}, **HX)
    assert response.status_code == 400
    assert "are already spent or reserved: the budget cannot go below that." in text(response)
    assert DatasetBudget.objects.get(dataset=funded_adult).epsilon_limit == 10


def _chart(body: str) -> dict:
    found = re.search(r'<script id="spending-data" type="application/json">(.*?)</script>', body, re.S)
    return json.loads(found.group(1))


def test_the_spending_chart_data_matches_the_ledger(bob_policy, funded_adult, bob, alice) -> None:
    first = spend(bob, funded_adult, "0.25")
    second = spend(bob, funded_adult, "0.125", commit=False)
    third = spend(bob, funded_adult, "0.5", commit=False)
    budget_release(reservation=third)
    days = {first.pk: "2030-03-01", second.pk: "2030-03-03", third.pk: "2030-03-03"}
    for pk, day in days.items():
        LedgerEntry.objects.filter(pk=pk).update(created_at=datetime.fromisoformat(f"{day}T10:00:00+00:00"))
    LedgerEntry.objects.filter(reservation=third).update(created_at=datetime(2030, 3, 4, 9, tzinfo=UTC))

    body = client_for(alice).get(EDITOR).content.decode()
    chart = _chart(body)
    assert chart["limit"] == "10"
    assert chart["points"] == [
        {"day": "2030-03-01", "epsilon": "0.25", "cumulative": "0.25"},
        {"day": "2030-03-03", "epsilon": "0.625", "cumulative": "0.875"},
        {"day": "2030-03-04", "epsilon": "-0.5", "cumulative": "0.375"},
    ]
    ledger = LedgerEntry.objects.filter(dataset=funded_adult)
    reserved = sum(e.epsilon for e in ledger if e.kind == "reserve")
    released = sum(e.epsilon for e in ledger if e.kind == "release")
    assert Decimal(chart["points"][-1]["cumulative"]) == reserved - released
    assert '<th scope="row">2030-03-03</th><td class="num">0.625</td><td class="num">0.875</td>' in body
    assert re.search(r"<script(?![^>]*(?:src=|type=\"application/json\"))", body) is None
    assert " onclick=" not in body and " onload=" not in body


def test_the_index_lists_alice_s_datasets_with_their_usage_and_pending_requests(bob_policy, funded_adult, bob, alice):
    from apps.privacy.requests import access_request_create

    spend(bob, funded_adult, "0.5")
    access_request_create(actor=bob, dataset=funded_adult, access_mode="dp", epsilon="3", reason="More.")
    body = text(client_for(alice).get("/privacy/"))
    row = re.search(r"<tr>\s*<th scope=\"row\"><a href=\"/privacy/datasets/hr.census.adult/\">.*?</tr>", body, re.S)
    cells = re.findall(r'<td class="num">(?:<a [^>]*>)?([^<]*)', row.group(0))
    assert cells == ["10", "0.5", "9.5", "1"]


def test_cancelling_an_edit_brings_the_row_back(bob_policy, alice) -> None:
    response = client_for(alice).get(f"{EDITOR}policies/{bob_policy.pk}/", **HX)
    assert response.status_code == 200
    assert text(response).startswith(f'<tr id="policy-{bob_policy.pk}">') and "Edit" in text(response)


def test_revoking_works_without_javascript(bob_policy, alice) -> None:
    client = client_for(alice)
    url = f"{EDITOR}policies/{bob_policy.pk}/revoke/"
    page = client.get(url)
    assert page.status_code == 200 and "<html" in text(page) and "Revoke the policy of bob" in text(page)
    response = client.post(url, {"confirm": "revoke"}, follow=True)
    assert response.redirect_chain == [(f"{EDITOR}#policies", 302)]
    assert "Revoked the policy of bob." in text(response)
    assert not Policy.objects.exists()


def test_an_invalid_budget_without_javascript_is_a_page_with_the_error(funded_adult, alice) -> None:
    response = client_for(alice).post(f"{EDITOR}budget/", {"epsilon_limit": "-1", "delta_limit": "0"})
    assert response.status_code == 400
    assert "<html" in text(response) and "epsilon_limit must be at least zero." in text(response)


def test_a_new_policy_form_without_javascript_is_a_page(funded_adult, alice) -> None:
    page = client_for(alice).get(f"{EDITOR}policies/new/")
    assert page.status_code == 200 and "<html" in text(page)
    assert '<option value="user:bob">bob</option>' in text(page)
    assert '<option value="group:analysts">analysts</option>' in text(page)
