"""Single sign-on against a real OpenID Connect provider (django-oauth-toolkit in its own process).

The portal is Django's test client; the browser's side at the provider is a requests session that
posts the provider's log-in form. The provider can be told to get one thing wrong in every token it
issues (issuer, audience, alg=none, expiry, signing key): each is refused and audited.
"""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.auth.models import Group
from django.test import Client

from apps.accounts.models import OIDCIdentity, User
from apps.usage.models import AuditEvent
from tests.factories import UserFactory
from tests.oidc_provider.process import Provider, oidc_provider  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(oidc_provider: Provider, settings) -> Iterator[Provider]:  # noqa: F811
    oidc_provider.configure_portal(settings)
    oidc_provider.misbehave("normal")
    yield oidc_provider
    oidc_provider.misbehave("normal")
    oidc_provider.update_user("bob", groups=["analysts"], is_active=True)
    oidc_provider.update_user("alice", groups=["hr-owners", "portal-admins"], is_active=True)


def sso_callback(client: Client, provider: Provider, username: str, browser: requests.Session | None = None) -> str:
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302
    callback = provider.sign_in(start["Location"], username, browser)
    assert callback is not None, "the provider refused the log-in"
    return callback


def sso_login(client: Client, provider: Provider, username: str) -> object:
    return client.get(sso_callback(client, provider, username))


def refusals() -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(outcome="refused").values_list("action", "outcome"))


def signed_in_as(client: Client) -> User | None:
    response = client.get("/api/v1/domains/")
    if response.status_code != 200:
        return None
    return User.objects.get(pk=client.session["_auth_user_id"])


# --- The happy path ---------------------------------------------------------------------------------

def test_bob_signs_in_through_the_provider_with_state_nonce_and_pkce_and_gets_an_account_keyed_by_sub(
    provider: Provider,
) -> None:
    client = Client()
    start = client.get("/oidc/authenticate/")
    query = parse_qs(urlparse(start["Location"]).query)
    assert start["Location"].startswith(provider.url("authorize/"))
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0] and query["scope"] == ["openid email profile"]

    response = client.get(provider.sign_in(start["Location"], "bob"))
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    identity = OIDCIdentity.objects.get()
    bob = identity.user
    assert (identity.issuer, bob.username, bob.email) == (provider.issuer, "bob", "bob@example.org")
    assert (bob.first_name, bob.last_name) == ("Bob", "Example")
    assert identity.subject != bob.email  # keyed by sub
    assert set(bob.groups.values_list("name", flat=True)) == {"analysts"}
    assert not bob.has_usable_password()
    assert bob.get_username() in home.content.decode()
    assert refusals() == []
    assert AuditEvent.objects.filter(action="auth.login", actor=bob, outcome="success").count() == 1
    assert AuditEvent.objects.get(action="auth.oidc.user_create").actor == bob

    # Signing in again finds the same account.
    again = Client()
    sso_login(again, provider, "bob")
    assert signed_in_as(again) == bob
    assert User.objects.count() == 1


def test_a_local_account_with_the_same_username_and_email_is_not_taken_over(provider: Provider) -> None:
    local = UserFactory(username="bob", email="bob@example.org")
    client = Client()
    sso_login(client, provider, "bob")
    sso_user = signed_in_as(client)
    assert sso_user is not None and sso_user != local
    assert sso_user.username.startswith("bob-")
    assert not OIDCIdentity.objects.filter(user=local).exists()


# --- Refusals ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("mode", "action", "message"),
    [
        ("wrong_iss", "auth.oidc.issuer", "issued by another issuer"),
        ("wrong_aud", "auth.oidc.audience", "not issued for this portal"),
        ("alg_none", "auth.oidc.algorithm", "not signed with RS256"),
        ("expired", "auth.oidc.expired", "expired"),
        ("foreign_key", "auth.oidc.key", "key the identity provider does not publish"),
        ("wrong_nonce", "auth.oidc.nonce", "does not answer the log-in started in this browser"),
    ],
)
def test_a_bad_id_token_is_refused_and_audited(provider: Provider, mode: str, action: str, message: str) -> None:
    provider.misbehave(mode)
    client = Client()
    response = sso_login(client, provider, "bob")
    assert response.status_code == 403
    assert "Single sign-on refused" in response.content.decode() and message in response.content.decode()
    assert signed_in_as(client) is None
    assert refusals() == [(action, "refused")]
    assert not User.objects.exists()


def test_a_replayed_callback_is_refused_and_audited_in_the_same_browser_and_in_another(provider: Provider) -> None:
    client = Client()
    callback = sso_callback(client, provider, "bob")
    assert client.get(callback).status_code == 302
    bob = signed_in_as(client)

    again = client.get(callback)
    assert again.status_code == 403 and "already used" in again.content.decode()
    attacker = Client()
    stolen = attacker.get(callback)
    assert stolen.status_code == 403
    assert signed_in_as(attacker) is None
    assert refusals() == [("auth.oidc.state", "refused")] * 2
    assert signed_in_as(client) == bob  # the first sign-in stands


def test_a_callback_with_a_made_up_state_or_no_code_is_refused(provider: Provider) -> None:
    client = Client()
    client.get("/oidc/authenticate/")
    assert client.get("/oidc/callback/", {"code": "x", "state": "made-up"}).status_code == 403
    assert client.get("/oidc/callback/", {"state": "made-up"}).status_code == 400
    assert client.get("/oidc/callback/", {"error": "access_denied", "state": "made-up"}).status_code == 403
    assert sorted(action for action, _ in refusals()) == ["auth.oidc.callback", "auth.oidc.provider_error",
                                                          "auth.oidc.state"]


def test_a_forged_error_answer_does_not_log_a_signed_in_person_out(provider: Provider) -> None:
    client = Client()
    sso_login(client, provider, "bob")
    forged = client.get("/oidc/callback/", {"error": "access_denied", "state": "made-up"})
    assert forged.status_code == 403
    assert signed_in_as(client).username == "bob"


def test_an_error_answer_to_this_browser_s_own_sign_in_ends_its_session(provider: Provider) -> None:
    client = Client()
    sso_login(client, provider, "bob")
    state = parse_qs(urlparse(client.get("/oidc/authenticate/")["Location"]).query)["state"][0]
    assert client.get("/oidc/callback/", {"error": "access_denied", "state": state}).status_code == 403
    assert signed_in_as(client) is None


# --- Groups and roles -------------------------------------------------------------------------------

def test_a_change_of_the_group_claim_changes_the_portal_groups_at_the_next_login(provider: Provider) -> None:
    sso_login(Client(), provider, "bob")
    bob = OIDCIdentity.objects.get().user
    hand_made = Group.objects.create(name="reviewers")
    bob.groups.add(hand_made)  # given in the portal, not by the provider: kept
    assert set(bob.groups.values_list("name", flat=True)) == {"analysts", "reviewers"}

    provider.update_user("bob", groups=["hr-owners"])
    sso_login(Client(), provider, "bob")
    assert set(bob.groups.values_list("name", flat=True)) == {"hr-owners", "reviewers"}
    change = AuditEvent.objects.filter(action="auth.oidc.groups").latest("id")
    assert (change.details["added"], change.details["removed"]) == (["hr-owners"], ["analysts"])

    provider.update_user("bob", groups=[])
    sso_login(Client(), provider, "bob")
    assert set(bob.groups.values_list("name", flat=True)) == {"reviewers"}


def test_a_group_map_and_role_groups_give_portal_groups_and_admin_rights_and_take_them_back(
    provider: Provider, settings
) -> None:
    provider.configure_portal(
        settings, OIDC_GROUP_MAP={"hr-owners": "hr-team"}, OIDC_SUPERUSER_GROUPS=["portal-admins"],
    )
    client = Client()
    sso_login(client, provider, "alice")
    alice = OIDCIdentity.objects.get().user
    assert (alice.is_superuser, alice.is_staff) == (True, True)
    assert set(alice.groups.values_list("name", flat=True)) == {"hr-team"}  # unmapped values are ignored

    provider.update_user("alice", groups=["hr-owners"])
    sso_login(Client(), provider, "alice")
    alice.refresh_from_db()
    assert (alice.is_superuser, alice.is_staff) == (False, False)
    assert set(alice.groups.values_list("name", flat=True)) == {"hr-team"}


# --- Deactivation -----------------------------------------------------------------------------------

def test_a_user_deactivated_in_the_portal_loses_the_sso_session_at_the_next_request_and_cannot_sign_in(
    provider: Provider,
) -> None:
    client = Client()
    sso_login(client, provider, "bob")
    assert client.get("/").status_code == 200
    User.objects.filter(username="bob").update(is_active=False)

    assert client.get("/").status_code == 302
    assert client.get("/api/v1/domains/").status_code in (401, 403)
    response = sso_login(Client(), provider, "bob")
    assert response.status_code == 403 and "deactivated" in response.content.decode()
    assert refusals() == [("auth.oidc.inactive", "refused")]
    assert AuditEvent.objects.get(action="auth.oidc.inactive").actor.username == "bob"


def test_a_user_disabled_at_the_provider_loses_the_session_at_the_next_recheck_and_cannot_sign_in_again(
    provider: Provider, settings
) -> None:
    settings.OIDC_OP_INTROSPECTION_ENDPOINT = ""  # a provider without introspection: the refresh token decides
    settings.PORTAL_OIDC_RECHECK_SECONDS = 0  # every request asks the provider
    client = Client()
    sso_login(client, provider, "bob")
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200  # the provider rotated the refresh token; the new one works
    provider.update_user("bob", is_active=False)

    assert client.get("/").status_code == 302
    assert client.get("/api/v1/domains/").status_code in (401, 403)
    revoked = AuditEvent.objects.get(action="auth.oidc.revoked")
    assert (revoked.actor.username, revoked.outcome) == ("bob", "refused")
    start = Client().get("/oidc/authenticate/")
    assert provider.sign_in(start["Location"], "bob") is None
    with pytest.raises(requests.HTTPError):
        provider.password_token("bob")


def test_a_user_disabled_at_the_provider_loses_bearer_and_session_access_at_the_next_request_by_introspection(
    provider: Provider, settings
) -> None:
    settings.PORTAL_OIDC_RECHECK_SECONDS = 0
    session = Client()
    sso_login(session, provider, "bob")
    token = provider.password_token("bob")
    assert (api(token).status_code, session.get("/").status_code) == (200, 200)
    provider.update_user("bob", is_active=False)

    response = api(token)  # a JWT that is signed, for the portal and not expired: only the provider knows
    assert response.status_code == 401 and "no longer vouches for this token" in response.json()["message"]
    assert session.get("/").status_code == 302
    assert session.get("/api/v1/domains/").status_code in (401, 403)
    bearer = AuditEvent.objects.get(action="auth.oidc.bearer")
    assert (bearer.actor.username, bearer.outcome, bearer.details["reason"]) == ("bob", "refused", "revoked")
    revoked = AuditEvent.objects.get(action="auth.oidc.revoked")
    assert (revoked.actor.username, revoked.outcome) == ("bob", "refused")


def test_with_introspection_a_session_recheck_on_every_request_rotates_no_refresh_token(
    provider: Provider, settings
) -> None:
    settings.PORTAL_OIDC_RECHECK_SECONDS = 0
    client = Client()
    sso_login(client, provider, "bob")
    refresh_token = client.session["oidc_refresh_token"]
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert client.session["oidc_refresh_token"] == refresh_token  # introspected, not refreshed


def test_an_expired_session_access_token_is_replaced_by_a_refresh_and_the_session_goes_on(
    provider: Provider, settings
) -> None:
    settings.PORTAL_OIDC_RECHECK_SECONDS = 0
    client = Client()
    sso_login(client, provider, "bob")
    session = client.session
    session["oidc_access_token"] = "expired-or-unknown"
    session.save()

    assert client.get("/").status_code == 200
    assert client.session["oidc_access_token"] != "expired-or-unknown"
    assert not AuditEvent.objects.filter(action="auth.oidc.revoked").exists()


def test_a_positive_introspection_answer_is_cached_only_as_long_as_configured(provider: Provider, settings) -> None:
    settings.PORTAL_OIDC_INTROSPECTION_CACHE_SECONDS = 60
    sso_login(Client(), provider, "bob")
    token = provider.password_token("bob")
    assert api(token).status_code == 200
    provider.update_user("bob", is_active=False)

    assert api(token).status_code == 200  # the trade-off: up to 60 s more with this setting
    settings.PORTAL_OIDC_INTROSPECTION_CACHE_SECONDS = 0
    assert api(token).status_code == 401


def test_a_bearer_token_is_refused_when_the_provider_cannot_be_asked_about_it(provider: Provider, settings) -> None:
    sso_login(Client(), provider, "bob")
    token = provider.password_token("bob")
    settings.OIDC_OP_INTROSPECTION_ENDPOINT = provider.url("no-such-endpoint/")

    response = api(token)

    assert response.status_code == 401 and "could not be asked" in response.json()["message"]
    assert AuditEvent.objects.get(action="auth.oidc.bearer").details["reason"] == "provider_unavailable"


# --- Log-out ----------------------------------------------------------------------------------------

def test_logging_out_ends_the_portal_session_and_the_provider_session(provider: Provider) -> None:
    client, browser = Client(), requests.Session()
    client.get(sso_callback(client, provider, "bob", browser))
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    end_session = urlparse(response["Location"])
    query = parse_qs(end_session.query)
    assert response["Location"].startswith(provider.url("logout/"))
    assert query["client_id"] == ["portal"] and query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert signed_in_as(client) is None

    at_provider = browser.get(response["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    assert at_provider.headers["Location"] == "http://testserver/accounts/login/"
    # The provider asks for the password again.
    start = Client().get("/oidc/authenticate/")
    assert "/accounts/login/" in browser.get(start["Location"], allow_redirects=False, timeout=10).headers["Location"]


def test_logging_out_of_a_password_session_stays_in_the_portal(bob: User, provider: Provider) -> None:
    client = Client()
    client.force_login(bob)
    response = client.post("/accounts/logout/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")


# --- Bearer tokens for the API ----------------------------------------------------------------------

def api(token: str) -> object:
    return Client().get("/api/v1/domains/", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_bearer_token_issued_for_the_portal_opens_the_api_until_the_user_is_deactivated(provider: Provider) -> None:
    sso_login(Client(), provider, "bob")
    token = provider.password_token("bob")
    assert api(token).status_code == 200
    User.objects.filter(username="bob").update(is_active=False)
    response = api(token)
    assert response.status_code in (401, 403) and "inactive" in response.json()["message"]
    assert AuditEvent.objects.get(action="auth.oidc.bearer").details["reason"] == "inactive"


def test_a_bearer_token_issued_for_another_service_is_refused_and_audited(provider: Provider) -> None:
    response = api(provider.password_token("bob", client="other-app"))
    assert response.status_code in (401, 403)
    assert "not issued for this portal" in response.json()["message"]
    assert AuditEvent.objects.get(action="auth.oidc.bearer").details["reason"] == "audience"
    assert refusals() + list(AuditEvent.objects.filter(outcome="denied").values_list("action", "outcome")) == [
        ("auth.oidc.bearer", "refused")
    ]  # one row for the request


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("wrong_iss", "issuer"), ("alg_none", "algorithm"), ("expired", "expired"), ("foreign_key", "key")],
)
def test_a_bad_bearer_token_is_refused_and_audited(provider: Provider, mode: str, reason: str) -> None:
    provider.misbehave(mode)
    response = api(provider.password_token("bob"))
    assert response.status_code in (401, 403)
    assert AuditEvent.objects.get(action="auth.oidc.bearer").details["reason"] == reason


def test_a_tampered_bearer_token_or_one_for_someone_unknown_is_refused(provider: Provider) -> None:
    token = provider.password_token("bob")
    assert "sign in to the portal once" in api(token).json()["message"]  # bob never signed in
    header, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]  # a middle character
    assert "signature" in api(f"{header}.{payload}.{flipped}").json()["message"]
    assert api("not-a-jwt").status_code in (401, 403)
    reasons = sorted(e.details["reason"] for e in AuditEvent.objects.filter(action="auth.oidc.bearer"))
    assert reasons == ["malformed", "signature", "unknown_user"]


# --- Redirects, sessions and odd claims -------------------------------------------------------------

def test_a_foreign_next_url_is_ignored_and_signing_in_gives_a_new_session_key(provider: Provider) -> None:
    client = Client()
    start = client.get("/oidc/authenticate/", {"next": "https://evil.example/steal"})
    before = client.cookies["sessionid"].value

    response = client.get(provider.sign_in(start["Location"], "bob"))

    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.cookies["sessionid"].value != before
    assert signed_in_as(client).username == "bob"


def test_a_local_next_url_is_kept(provider: Provider) -> None:
    client = Client()
    start = client.get("/oidc/authenticate/", {"next": "/lineage/"})
    assert client.get(provider.sign_in(start["Location"], "bob"))["Location"] == "/lineage/"


@pytest.mark.parametrize(
    ("claim", "groups"),
    [({"analysts": True}, set()), (7, set()), (None, set()), (["analysts", 7, None, {"x": 1}, ""], {"analysts"}),
     ("analysts", {"analysts"}), ([["analysts"]], set())],
)
def test_a_group_claim_of_an_odd_type_gives_only_the_string_groups_it_names(
    settings, claim: object, groups: set[str]
) -> None:
    from apps.accounts.services import oidc_user_sync

    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_GROUP_MAP = {}
    user = oidc_user_sync(issuer="https://idp.example", claims={"sub": "s-1", "groups": claim})
    assert set(user.groups.values_list("name", flat=True)) == groups


def test_an_id_token_of_the_portal_does_not_open_the_api_though_its_audience_is_the_portal(
    provider: Provider,
) -> None:
    client = Client()
    sso_login(client, provider, "bob")
    response = api(client.session["oidc_id_token"])  # it travels in log-out URLs (id_token_hint)
    assert response.status_code in (401, 403) and "ID token" in response.json()["message"]
    assert AuditEvent.objects.get(action="auth.oidc.bearer").details["reason"] == "id_token"
    assert api(provider.password_token("bob")).status_code == 200
