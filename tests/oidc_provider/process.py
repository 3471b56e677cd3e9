"""Start the test identity provider in its own process and talk to it like a browser would.

``oidc_provider`` (a pytest fixture; one process for the whole test session) runs ``serve.py`` on a free loopback
port with its own SQLite database in a temporary folder; ``Provider.configure_portal`` points the
portal's settings at it.
"""

import re
import select
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests

from tests.oidc_provider import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Provider:
    issuer: str

    def url(self, path: str) -> str:
        return f"{self.issuer}/{path.lstrip('/')}"

    def configure_portal(self, settings: object, **overrides: object) -> None:
        """Point the portal at this provider (through pytest-django's ``settings`` fixture)."""
        for name, value in self.portal_settings(**overrides).items():
            setattr(settings, name, value)

    def portal_settings(self, **overrides: object) -> dict[str, object]:
        """The portal's settings for this provider, as the client ``portal`` (the README's settings)."""
        values = {
            "PORTAL_OIDC_ENABLED": True,
            "OIDC_OP_ISSUER": self.issuer,
            "OIDC_RP_CLIENT_ID": "portal",
            "OIDC_RP_CLIENT_SECRET": "portal-secret",
            "OIDC_OP_AUTHORIZATION_ENDPOINT": self.url("authorize/"),
            "OIDC_OP_TOKEN_ENDPOINT": self.url("token/"),
            "OIDC_OP_USER_ENDPOINT": self.url("userinfo/"),
            "OIDC_OP_JWKS_ENDPOINT": self.url(".well-known/jwks.json"),
            "OIDC_OP_LOGOUT_ENDPOINT": self.url("logout/"),
            # django-oauth-toolkit's RFC 7662 endpoint; the portal authenticates there as its client.
            "OIDC_OP_INTROSPECTION_ENDPOINT": self.url("introspect/"),
            "PORTAL_OIDC_INTROSPECTION_CACHE_SECONDS": 0,
            "OIDC_API_AUDIENCE": ["portal"],
            "OIDC_GROUPS_CLAIM": "groups",
            "OIDC_GROUP_MAP": {},
            "OIDC_STAFF_GROUPS": [],
            "OIDC_SUPERUSER_GROUPS": [],
        }
        values.update(overrides)
        return values

    def misbehave(self, mode: str) -> None:
        requests.post(self.url("../_test/mode/"), json={"mode": mode}, timeout=5).raise_for_status()

    def update_user(self, username: str, **changes: object) -> None:
        requests.post(self.url(f"../_test/users/{username}/"), json=changes, timeout=5).raise_for_status()

    def password_token(self, username: str, *, client: str = "portal-cli") -> str:
        """An access token from the resource-owner password grant of one of the provider's clients."""
        response = requests.post(
            self.url("token/"),
            data={"grant_type": "password", "username": username, "password": PASSWORD, "scope": "openid",
                  "client_id": client, "client_secret": f"{client}-secret"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def sign_in(self, authorize_url: str, username: str, browser: requests.Session | None = None) -> str | None:
        """Follow the portal's redirect to the provider, post the provider's log-in form and return the
        URL the provider sends the browser back to (the portal's callback), or None if it refused."""
        browser = browser or requests.Session()
        url = authorize_url
        for _ in range(6):
            if not url.startswith(self.issuer.rsplit("/", 1)[0]):
                return url  # back to the portal
            response = browser.get(url, allow_redirects=False, timeout=10)
            if response.status_code in (301, 302, 303):
                url = urljoin(url, response.headers["Location"])
                continue
            match = _CSRF.search(response.text)
            if match is None or "<form" not in response.text:
                return None
            posted = browser.post(
                url, data={"csrfmiddlewaretoken": match.group(1), "username": username, "password": PASSWORD,
                           "next": parse_qs(urlparse(url).query).get("next", [""])[0]},
                headers={"Referer": url}, allow_redirects=False, timeout=10,
            )
            if posted.status_code not in (301, 302, 303):
                return None  # the provider refused the log-in
            url = urljoin(url, posted.headers["Location"])
        raise AssertionError("too many redirects at the provider")


_running: dict[str, Provider] = {}


def _start(state: Path) -> tuple[Provider, Callable[[], None]]:
    log = open(state / "provider.log", "w")  # noqa: SIM115 - closed by stop()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.oidc_provider.serve", str(state / "state")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
    )

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()

    ready, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if ready else ""
    if not line.startswith("READY "):
        stop()
        raise AssertionError(f"the identity provider did not start: {(state / 'provider.log').read_text()}")
    return Provider(issuer=line.split()[1]), stop


@pytest.fixture(scope="module")
def oidc_provider(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Provider:
    """The provider, started once per test session (by the first module that needs it) and stopped at
    the end of the session. Tests that change its users or its misbehaviour put them back."""
    if "provider" not in _running:
        provider, stop = _start(tmp_path_factory.mktemp("oidc-provider"))
        request.config.add_cleanup(stop)
        _running["provider"] = provider
    return _running["provider"]
