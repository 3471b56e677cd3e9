"""The web security baseline, read from real responses: CSP without inline code, HSTS, nosniff, the
referrer policy, secure and HttpOnly cookies, ``Cache-Control: no-store`` on everything dynamic; and
``manage.py check --deploy`` clean under production settings (in a subprocess, with the environment
a production server has)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from apps.core.security import content_security_policy
from tests.conftest import PASSWORD, client_for
from tests.security.world import World

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_SETTINGS = (
    "DEBUG", "SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_REFERRER_POLICY", "X_FRAME_OPTIONS",
)  # fmt: skip
_SCRIPT = f"""
import json, django
from io import StringIO
from django.conf import settings
from django.core.management import call_command
django.setup()
from django.core.management.base import SystemCheckError
out = StringIO()
try:
    call_command("check", deploy=True, fail_level="WARNING", stdout=out, stderr=out)
except SystemCheckError as exc:
    out.write(str(exc))
print(json.dumps({{"check": out.getvalue(), "settings": {{n: getattr(settings, n) for n in {PRODUCTION_SETTINGS!r}}}}}))
"""


def _production_env() -> dict[str, str]:
    """What a production server sets, and nothing of the test environment's relaxations."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_", "OIDC_"))}
    db = connection.settings_dict
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_SECRET_KEY="production-like-secret-" + "x" * 50,
        PORTAL_CREDENTIALS_KEY="dGVzdC1vbmx5LWtleS1ub3QtYS1zZWNyZXQtMDAwMDA=",
        DJANGO_DEBUG="0",
        DJANGO_ALLOWED_HOSTS="portal.example.org",
        DATABASE_URL=f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        + db["NAME"],
        PORTAL_VAR_DIR=os.environ.get("PORTAL_VAR_DIR", "/tmp/portal-test-var"),
    )
    return env


@pytest.fixture(scope="session")  # pytest-django reorders tests: a module scope would run it twice
def production() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_check_deploy_is_clean_under_production_settings(production: dict) -> None:
    assert "System check identified no issues" in production["check"], production["check"]


def test_production_settings_default_to_https_only_cookies_and_hsts(production: dict) -> None:
    values = production["settings"]

    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["CSRF_COOKIE_SECURE"] and values["CSRF_COOKIE_HTTPONLY"]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] and values["SECURE_REFERRER_POLICY"] == "same-origin"


def test_login_over_https_with_production_settings_sets_secure_httponly_cookies(
    production: dict, bob, settings
) -> None:
    for name, value in production["settings"].items():
        setattr(settings, name, value)
    client = Client()

    plain = client.get("/accounts/login/")
    page = client.get("/accounts/login/", secure=True)
    logged_in = client.post("/accounts/login/", {"username": "bob", "password": PASSWORD}, secure=True)

    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert page.status_code == 200
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Lax"
    assert logged_in.status_code == 302, logged_in.content[:500]
    session = logged_in.cookies[django_settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert logged_in["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def _directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_every_page_has_a_csp_without_inline_code_and_the_baseline_headers(bob) -> None:
    response = client_for(bob).get("/", secure=True)

    csp = _directives(response)
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'self'"]
    assert not any("unsafe" in source for sources in csp.values() for source in sources)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_csp_lets_forms_reach_the_identity_provider_only(bob, settings) -> None:
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://login.example.org/realms/mesh/auth"
    settings.OIDC_OP_LOGOUT_ENDPOINT = "https://login.example.org/realms/mesh/logout"

    csp = _directives(client_for(bob).get("/"))

    assert csp["form-action"] == ["'self'", "https://login.example.org"]


def test_a_csp_allowing_inline_code_is_refused() -> None:
    with pytest.raises(ValueError, match="inline"):
        content_security_policy({"script-src": ["'self'", "'unsafe-inline'"]})
    with pytest.raises(ValueError, match="inline"):
        content_security_policy({"style-src": ["'unsafe-inline'"]})


def _no_store(response) -> bool:
    return "no-store" in [part.strip() for part in response.get("Cache-Control", "").split(",")]


def test_pages_and_api_answers_with_budgets_or_results_are_never_stored(world: World) -> None:
    bob = world.client("bob")
    job = world.hr.job.pk
    urls = [
        "/privacy/me/",
        f"/datasets/{world.hr.dataset.address}/",
        f"/queries/{job}/",
        f"/queries/{job}/result.csv",
        "/api/v1/budgets/",
        f"/api/v1/queries/{job}/",
        f"/api/v1/queries/{job}/result.csv",
        "/api/v1/datasets/missing.dataset.x/",  # a refusal, too
    ]
    answers = {url: bob.get(url) for url in urls}
    answers["/accounts/login/ (anonymous)"] = Client().get("/accounts/login/")
    answers["/api/v1/budgets/ (anonymous)"] = Client().get("/api/v1/budgets/")

    assert {url: r.status_code for url, r in answers.items()} == {
        **{url: 200 for url in urls[:-1]},
        urls[-1]: 404,
        "/accounts/login/ (anonymous)": 200,
        "/api/v1/budgets/ (anonymous)": 401,
    }
    assert [url for url, r in answers.items() if not _no_store(r)] == []
    assert answers["/api/v1/budgets/ (anonymous)"]["WWW-Authenticate"].startswith("Token")


def test_the_api_docs_page_loads_its_start_up_script_from_a_url(bob) -> None:
    """Swagger UI's inline start-up script would be blocked by the CSP: it is served as a script."""
    client = client_for(bob)

    page = client.get("/api/docs/")
    script = client.get("/api/docs/?script=")

    assert page.status_code == 200 and b"<script>" not in page.content and b"<style>" not in page.content
    assert b'src="/api/docs/?script=' in page.content
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content and b"/api/schema/" in script.content
