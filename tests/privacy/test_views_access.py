"""Who reaches which privacy page: admin, alice (owner), bob (analyst), charlie (no access), anonymous."""

from decimal import Decimal

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.privacy.accountant import budget_reserve, budget_reserve_dataset_wide
from apps.privacy.composition import PrivacyCost
from apps.privacy.models import AccessRequest, Mechanism, Policy
from apps.privacy.requests import access_request_create
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ADULT = "hr.census.adult"


@pytest.fixture
def people(admin_user: User, alice: User, bob: User, charlie: User) -> dict[str, User]:
    return {"admin": admin_user, "alice": alice, "bob": bob, "charlie": charlie}


@pytest.fixture
def bob_request(funded_adult, bob: User) -> AccessRequest:
    return access_request_create(actor=bob, dataset=funded_adult, access_mode="dp", epsilon="2", reason="A study.")


def status_of(user: User, url: str, *, post: dict | None = None) -> int:
    client = client_for(user)
    return (client.post(url, post) if post is not None else client.get(url)).status_code


@pytest.mark.parametrize(("who", "expected"), [("admin", 200), ("alice", 200), ("bob", 404), ("charlie", 404)])
def test_only_owners_and_admins_reach_the_policy_editor(people, bob_policy: Policy, who: str, expected: int) -> None:
    assert status_of(people[who], f"/privacy/datasets/{ADULT}/") == expected


@pytest.mark.parametrize("who", ["bob", "charlie"])
@pytest.mark.parametrize(
    "path",
    ["budget/", "policies/new/", "policies/{pk}/", "policies/{pk}/edit/", "policies/{pk}/revoke/"],
)
def test_bob_and_charlie_get_404_from_every_editor_endpoint_and_change_nothing(
    people, bob_policy: Policy, who: str, path: str
) -> None:
    url = f"/privacy/datasets/{ADULT}/" + path.format(pk=bob_policy.pk)
    data = {"epsilon_limit": "100", "epsilon_budget": "100", "subject": "user:charlie", "confirm": "revoke"}
    assert status_of(people[who], url) == 404
    assert status_of(people[who], url, post=data) == (405 if path == "policies/{pk}/" else 404)
    bob_policy.refresh_from_db()
    assert bob_policy.epsilon_budget == 1
    assert Policy.objects.count() == 1


def test_a_missing_dataset_and_a_foreign_policy_are_404_for_alice(people, bob_policy: Policy) -> None:
    assert status_of(people["alice"], "/privacy/datasets/hr.census.nothing/") == 404
    assert status_of(people["alice"], f"/privacy/datasets/{ADULT}/policies/999999/edit/") == 404


@pytest.mark.parametrize(("who", "expected"), [("admin", 200), ("alice", 200), ("bob", 302), ("charlie", 302)])
def test_the_index_is_for_managers_and_sends_analysts_to_their_own_page(
    people, funded_adult, who: str, expected: int
) -> None:
    response = client_for(people[who]).get("/privacy/")
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"] == "/privacy/me/"
    else:
        assert ADULT in response.content.decode()


@pytest.mark.parametrize("who", ["admin", "alice", "bob", "charlie"])
def test_everyone_has_their_own_page(people, bob_policy: Policy, who: str) -> None:
    assert status_of(people[who], "/privacy/me/") == 200


@pytest.mark.parametrize(("who", "expected"), [("admin", 200), ("alice", 404), ("bob", 404), ("charlie", 404)])
def test_only_admins_see_another_user_s_page(people, bob_policy: Policy, who: str, expected: int) -> None:
    assert status_of(people[who], "/privacy/users/bob/") == expected


def test_an_admin_asking_for_a_username_with_a_nul_character_gets_404(people) -> None:
    assert status_of(people["admin"], "/privacy/users/alice%00/") == 404


def test_an_admin_asking_for_an_unknown_user_gets_404(people) -> None:
    assert status_of(people["admin"], "/privacy/users/nobody/") == 404


@pytest.mark.parametrize(("who", "expected"), [("admin", 200), ("alice", 200), ("bob", 200), ("charlie", 404)])
def test_a_request_is_seen_by_its_requester_and_the_deciders_only(
    people, bob_request: AccessRequest, who: str, expected: int
) -> None:
    assert status_of(people[who], f"/privacy/requests/{bob_request.pk}/") == expected


@pytest.mark.parametrize(("who", "listed"), [("admin", True), ("alice", True), ("bob", True), ("charlie", False)])
def test_the_request_list_is_filtered(people, bob_request: AccessRequest, who: str, listed: bool) -> None:
    response = client_for(people[who]).get("/privacy/requests/")
    assert response.status_code == 200
    assert (f'id="request-{bob_request.pk}"' in response.content.decode()) is listed


@pytest.mark.parametrize(("who", "expected"), [("admin", 200), ("alice", 200), ("bob", 200), ("charlie", 404)])
def test_the_request_form_needs_a_visible_dataset(people, funded_adult, who: str, expected: int) -> None:
    assert status_of(people[who], f"/privacy/requests/new/?dataset={ADULT}") == expected


def test_the_request_form_without_a_dataset_is_404(people) -> None:
    assert status_of(people["bob"], "/privacy/requests/new/") == 404


@pytest.mark.parametrize("who", ["bob", "charlie"])
def test_bob_and_charlie_cannot_decide_a_request(people, bob_request: AccessRequest, who: str) -> None:
    url = f"/privacy/requests/{bob_request.pk}/decide/"
    assert status_of(people[who], url, post={"decision": "approve", "epsilon_budget": "5"}) == 404
    bob_request.refresh_from_db()
    assert bob_request.status == AccessRequest.Status.PENDING
    assert not Policy.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/privacy/",
        "/privacy/me/",
        "/privacy/users/bob/",
        f"/privacy/datasets/{ADULT}/",
        f"/privacy/datasets/{ADULT}/budget/",
        f"/privacy/datasets/{ADULT}/policies/new/",
        "/privacy/requests/",
        f"/privacy/requests/new/?dataset={ADULT}",
        "/privacy/requests/1/",
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page(funded_adult, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_dataset_page_shows_bob_his_budget_and_a_request_link(bob_policy: Policy, bob: User) -> None:
    body = client_for(bob).get(f"/datasets/{ADULT}/").content.decode()
    assert 'id="privacy-panel"' in body
    assert f"/privacy/requests/new/?dataset={ADULT}" in body
    assert "Request more budget" in body
    assert f"/privacy/datasets/{ADULT}/" not in body


def test_the_dataset_page_links_alice_to_the_policy_editor(bob_policy: Policy, alice: User) -> None:
    body = client_for(alice).get(f"/datasets/{ADULT}/").content.decode()
    assert f'href="/privacy/datasets/{ADULT}/"' in body
    assert "Manage policies and budget" in body


def test_an_owner_funded_preview_is_not_listed_among_the_owner_s_own_charges(
    admin_user: User, alice: User, bob: User, bob_policy: Policy
) -> None:
    adult = bob_policy.dataset
    budget_reserve_dataset_wide(actor=alice, dataset=adult, cost=PrivacyCost(epsilon=Decimal("0.5")),
                                mechanism=Mechanism.SYNTHESIZER, reference="preview-sample")
    budget_reserve(actor=bob, dataset=adult, cost=PrivacyCost(epsilon=Decimal("0.25")), mechanism=Mechanism.LAPLACE,
                   reference="bob-query")

    for viewer, url in ((alice, "/privacy/me/"), (admin_user, "/privacy/users/alice/")):
        page = client_for(viewer).get(url).content.decode()
        assert "preview-sample" not in page and "No reservation yet." in page, url
    assert "bob-query" in client_for(bob).get("/privacy/me/").content.decode()
