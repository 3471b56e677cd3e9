"""In a real browser: bob presses the single sign-on button, signs in on the identity provider's own
page (django-oauth-toolkit in its own process), lands in the portal, and logs out of both."""

from collections.abc import Callable, Iterator

import pytest
from django.test import override_settings
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.accounts.models import OIDCIdentity
from tests.oidc_provider import PASSWORD
from tests.oidc_provider.process import Provider, oidc_provider  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def reload_middleware(live_server: LiveServer) -> None:
    """Middleware read settings when built (the CSP's form-action names the provider's origin): build
    the live server's again after changing them."""
    handler = live_server.thread.httpd.get_app()
    while handler is not None:
        handler.load_middleware()
        handler = getattr(handler, "application", None)


@pytest.fixture
def provider(oidc_provider: Provider, live_server: LiveServer) -> Iterator[Provider]:  # noqa: F811
    oidc_provider.misbehave("normal")
    with override_settings(**oidc_provider.portal_settings(PORTAL_OIDC_PROVIDER_NAME="Example ID")):
        reload_middleware(live_server)
        yield oidc_provider
    reload_middleware(live_server)


def test_the_sso_button_logs_bob_in_through_the_providers_login_page_and_log_out_ends_both(
    live_server, new_page: Callable[[], Page], provider: Provider
) -> None:
    # The provider allows any port on the loopback IP (RFC 8252), not on "localhost".
    base = live_server.url.replace("localhost", "127.0.0.1")
    page = new_page()
    page.goto(f"{base}/accounts/login/")
    page.get_by_role("link", name="Log in with Example ID").click()

    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    assert page.url.startswith(provider.issuer.removesuffix("/o") + "/accounts/login/")
    page.get_by_label("Provider username").fill("bob")
    page.get_by_label("Provider password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in to the provider").click()

    expect(page.get_by_role("heading", name="Data mesh catalog")).to_be_visible()
    expect(page.locator(".account .who")).to_have_text("bob")
    assert OIDCIdentity.objects.get().user.username == "bob"

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert page.url == f"{base}/accounts/login/"
    # Both sessions are gone: the button leads to the provider's password prompt again.
    page.get_by_role("link", name="Log in with Example ID").click()
    expect(page.get_by_label("Provider password")).to_be_visible()
