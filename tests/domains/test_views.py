import pytest
from django.urls import reverse

from apps.catalog.models import HarvestRun
from apps.domains.crypto import encrypt_password
from apps.domains.models import Backend
from tests.conftest import client_for
from tests.domains.backends import PasswordServer
from tests.factories import BackendFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def people(hr, sqlite_file) -> Backend:
    return BackendFactory(domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))


def _urls(backend: Backend) -> dict[str, str]:
    args = [backend.domain.slug, backend.slug]
    return {
        "list": reverse("domains:backend_list", args=[backend.domain.slug]),
        "create": reverse("domains:backend_create", args=[backend.domain.slug]),
        "detail": reverse("domains:backend_detail", args=args),
        "edit": reverse("domains:backend_edit", args=args),
        "delete": reverse("domains:backend_delete", args=args),
        "check": reverse("domains:backend_check", args=args),
        "harvest": reverse("domains:backend_harvest", args=args),
    }


def test_a_viewer_sees_the_backends_and_their_health_but_no_edit_action(bob, people):
    page = client_for(bob).get(_urls(people)["list"])
    assert page.status_code == 200
    assert "hr.people" in page.content.decode()
    assert "Register a backend" not in page.content.decode()
    detail = client_for(bob).get(_urls(people)["detail"])
    assert detail.status_code == 200
    assert "Harvest now" not in detail.content.decode()


def test_a_viewer_who_is_not_an_owner_is_refused_every_edit_action(bob, people):
    urls = _urls(people)
    client = client_for(bob)
    assert client.get(urls["create"]).status_code == 403
    assert client.get(urls["edit"]).status_code == 403
    for name in ("create", "edit", "delete", "check", "harvest"):
        assert client.post(urls[name], {"slug": "x", "kind": "sqlite", "url": "/x"}).status_code == 403, name
    assert Backend.objects.count() == 1
    assert not HarvestRun.objects.exists()


def test_charlie_gets_404_on_every_backend_page(charlie, people):
    client = client_for(charlie)
    urls = _urls(people)
    for name in ("list", "create", "detail", "edit"):
        assert client.get(urls[name]).status_code == 404, name
    for name in ("create", "edit", "delete", "check", "harvest"):
        assert client.post(urls[name]).status_code == 404, name
    run = HarvestRun.objects.create(backend=people)
    assert client.get(reverse("domains:harvest_run", args=[run.pk])).status_code == 404


def test_a_wrong_password_is_shown_on_the_page_and_nothing_is_stored(alice, hr, password_pg: PasswordServer):
    page = client_for(alice).post(
        reverse("domains:backend_create", args=["hr"]),
        {"kind": "postgresql", "slug": "shop", "url": password_pg.url(), "password": "Wrong-Secret-9"},
    )
    body = page.content.decode()
    assert page.status_code == 400
    assert "could not connect" in body
    assert "password authentication failed for user &quot;reader&quot;" in body
    assert "Wrong-Secret-9" not in body
    assert not Backend.objects.exists()


def test_an_owner_registers_a_backend_and_its_page_never_shows_the_password(alice, hr, password_pg: PasswordServer):
    client = client_for(alice)
    created = client.post(
        reverse("domains:backend_create", args=["hr"]),
        {"kind": "postgresql", "slug": "shop", "url": password_pg.url(password=password_pg.password)},
    )
    assert created.status_code == 302
    backend = Backend.objects.get(slug="shop")
    assert created["Location"] == _urls(backend)["detail"]
    for name in ("detail", "edit", "list"):
        body = client.get(_urls(backend)[name]).content.decode()
        assert password_pg.password not in body
    assert "stored, encrypted" in client.get(_urls(backend)["detail"]).content.decode()


def test_a_missing_file_is_shown_on_the_page(alice, hr):
    page = client_for(alice).post(
        reverse("domains:backend_create", args=["hr"]), {"kind": "sqlite", "slug": "gone", "url": "/nowhere/x.db"}
    )
    assert page.status_code == 400
    assert "could not connect: file not found: /nowhere/x.db" in page.content.decode()


def test_test_connection_answers_a_health_fragment(alice, people, sqlite_file):
    sqlite_file.unlink()
    fragment = client_for(alice).post(_urls(people)["check"], **HTMX)
    assert fragment.status_code == 200
    assert "Unreachable" in fragment.content.decode()
    assert "file not found" in fragment.content.decode()
    assert "<html" not in fragment.content.decode()


def test_harvest_now_answers_a_polling_fragment_until_the_run_is_finished(
    alice, people, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    client = client_for(alice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        started = client.post(_urls(people)["harvest"], **HTMX)
    assert started.status_code == 202
    assert 'hx-trigger="every 1s"' in started.content.decode()
    run = HarvestRun.objects.get()
    assert run.status == HarvestRun.Status.QUEUED
    poll = client.get(reverse("domains:harvest_run", args=[run.pk]), **HTMX)
    assert 'hx-trigger="every 1s"' in poll.content.decode()

    for callback in callbacks:
        callback()
    finished = client.get(reverse("domains:harvest_run", args=[run.pk]), **HTMX).content.decode()
    assert "hx-trigger" not in finished
    assert "Succeeded" in finished
    assert "hr.people.staff" in finished
    assert 'value="100"' in finished
    page = client.get(_urls(people)["detail"]).content.decode()
    assert "hr.people.teams" in page


def test_an_owner_removes_a_backend(alice, people):
    response = client_for(alice).post(_urls(people)["delete"])
    assert response.status_code == 302
    assert not Backend.objects.exists()


def test_the_admin_shows_a_backend_but_never_its_password(admin_user, hr, password_pg: PasswordServer):
    backend = BackendFactory(domain=hr, slug="shop", kind=Backend.Kind.POSTGRESQL, url=password_pg.url())
    backend.encrypted_password = encrypt_password("Hidden-Pw-7")
    backend.save()
    page = client_for(admin_user).get(reverse("admin:domains_backend_change", args=[backend.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Hidden-Pw-7" not in body
    assert bytes(backend.encrypted_password).decode() not in body
