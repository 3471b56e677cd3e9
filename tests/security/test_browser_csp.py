"""The CSP in a real browser: the portal's pages, its charts and the Swagger UI at /api/docs/ work
without a single Content Security Policy violation (no inline script, style or handler left)."""


import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import Browser, Dialog

from tests.security.world import World

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIOLATIONS = """() => window.__cspViolations || []"""
RECORD = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || ""));
});
"""


def _session_cookie(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def test_pages_charts_forms_and_the_api_docs_run_under_the_csp_without_violations(
    world: World, live_server, browser: Browser
) -> None:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD)
    context.add_cookies([{"name": "sessionid", "value": _session_cookie(world.users["alice"]), "url": live_server.url}])
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if "Content Security Policy" in m.text else None)
    problems: dict[str, list[str]] = {}

    for path, ready in [
        (f"/datasets/{world.hr.dataset.address}/", "h1"),
        (f"/privacy/datasets/{world.hr.dataset.address}/", "canvas"),  # Chart.js
        (f"/domains/hr/backends/{world.hr.backend.slug}/", "form[data-confirm]"),
        (f"/lineage/datasets/{world.hr.dataset.address}/", "main"),  # Cytoscape
        ("/usage/d/hr/", "main"),  # KPI charts
        (f"/synth/?dataset={world.hr.dataset.address}", "main"),
        ("/api/docs/", ".swagger-ui .info .title"),
    ]:
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        violations = page.evaluate(VIOLATIONS)
        if violations:
            problems[path] = violations

    assert "Confidential Data Mesh portal API" in page.inner_text(".swagger-ui .info .title")
    assert problems == {} and console_errors == [], (problems, console_errors)

    # The confirmation that was an inline onsubmit handler still asks before the removal is posted.
    page.goto(f"{live_server.url}/domains/hr/backends/{world.hr.backend.slug}/")
    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.click("form[data-confirm] button")

    assert asked and "Remove this backend?" in asked[0]
    assert page.url.endswith(f"/domains/hr/backends/{world.hr.backend.slug}/")
    assert page.evaluate(VIOLATIONS) == []

    # The detector itself: an inline style injected now is blocked and reported.
    page.evaluate(
        "() => { const s = document.createElement('style'); s.textContent = 'body{}'; document.head.append(s); }"
    )
    page.wait_for_function("() => window.__cspViolations.length > 0")
    assert page.evaluate(VIOLATIONS)[0].startswith("style-src")
    context.close()
