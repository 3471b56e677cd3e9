import pytest
from django.http import Http404
from django.urls import reverse

from apps.core.errors import ApplicationError, BackendUnavailable, Forbidden
from apps.domains.connectors import connector_for
from apps.domains.models import Backend
from apps.domains.services import backend_check, backend_delete, backend_register, backend_update
from apps.usage.models import AuditEvent
from tests.conftest import client_for
from tests.domains.backends import PasswordServer
from tests.factories import DatasetFactory, DomainFactory

pytestmark = pytest.mark.django_db


def _everything_stored() -> str:
    backends = " ".join(f"{b.url} {bytes(b.encrypted_password)!r}" for b in Backend.objects.all())
    audit = " ".join(f"{e.object_repr} {e.details}" for e in AuditEvent.objects.all())
    return backends + audit


def test_an_owner_registers_a_sqlite_file_and_it_is_healthy(alice, hr, sqlite_file):
    backend = backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    assert (backend.health, backend.url, backend.has_password) == (Backend.Health.OK, str(sqlite_file), False)
    event = AuditEvent.objects.get(action="backend.register")
    assert (event.actor, event.object_id, event.outcome) == (alice, str(backend.pk), "success")


def test_a_password_in_the_url_is_moved_into_the_encrypted_field(alice, hr, password_pg: PasswordServer):
    backend = backend_register(
        actor=alice,
        domain=hr,
        slug="shop",
        kind=Backend.Kind.POSTGRESQL,
        url=password_pg.url(password="right-horse-battery"),
    )
    backend.refresh_from_db()
    assert backend.url == password_pg.url()
    assert backend.has_password
    assert "right-horse-battery" not in _everything_stored()
    with connector_for(backend) as connector:
        assert connector.row_count(("public", "sales")) == 2


def test_a_password_given_as_a_query_parameter_is_moved_too(alice, hr, password_pg: PasswordServer):
    url = f"{password_pg.url()}?password={password_pg.password}&application_name=x"
    backend = backend_register(actor=alice, domain=hr, slug="shop", kind=Backend.Kind.POSTGRESQL, url=url)
    assert password_pg.password not in backend.url
    assert "application_name=x" in backend.url


def test_a_wrong_password_is_refused_naming_the_problem_and_nothing_is_stored(alice, hr, password_pg):
    with pytest.raises(BackendUnavailable) as refused:
        backend_register(actor=alice, domain=hr, slug="shop", kind=Backend.Kind.POSTGRESQL, url=password_pg.url(),
                         password="not-the-password")  # fmt: skip
    assert refused.value.message.startswith("could not connect:")
    assert 'password authentication failed for user "reader"' in refused.value.message
    assert not Backend.objects.exists()
    refusal = AuditEvent.objects.get(action="backend.register")
    assert refusal.outcome == "refused"
    assert "not-the-password" not in _everything_stored()


@pytest.mark.parametrize(
    ("kind", "url", "message"),
    [
        (Backend.Kind.SQLITE, "/nowhere/x.sqlite3", "file not found"),
        (Backend.Kind.SQLITE, "relative/x.sqlite3", "absolute path"),
        (Backend.Kind.DUCKDB_FOLDER, "/nowhere/folder", "folder not found"),
        (Backend.Kind.POSTGRESQL, "sqlite:///x.db", "needs a postgresql:// URL"),
        (Backend.Kind.POSTGRESQL, "postgresql://reader:pw@127.0.0.1:5432", "names no database"),
        (Backend.Kind.POSTGRESQL, "not a url", "not a valid SQLAlchemy URL"),
        (Backend.Kind.SQLALCHEMY, "nosuch://u:pw@h/db", "unknown database driver"),
        (Backend.Kind.POSTGRESQL, "postgresql://u:pw@nohost.invalid/db", "could not connect"),
        (Backend.Kind.SQLITE, "", "Enter a URL or a path"),
    ],
)
def test_a_bad_location_is_refused_with_a_message_and_nothing_is_stored(alice, hr, kind, url, message):
    with pytest.raises(ApplicationError, match=message):
        backend_register(actor=alice, domain=hr, slug="x", kind=kind, url=url)
    assert not Backend.objects.exists()


def test_a_file_of_another_domain_cannot_be_registered_again(alice, hr, sqlite_file):
    backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    other = DomainFactory(slug="leaky")
    other.owners.add(alice)
    with pytest.raises(ApplicationError, match="belongs to a backend of another domain"):
        backend_register(actor=alice, domain=other, slug="copy", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    with pytest.raises(ApplicationError, match="with its own kind: it is then opened read-only"):
        backend_register(actor=alice, domain=other, slug="copy", kind=Backend.Kind.SQLALCHEMY,
                         url=f"sqlite:///{sqlite_file}")  # fmt: skip


def test_a_slug_is_unique_in_its_domain(alice, hr, sqlite_file):
    backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    with pytest.raises(ApplicationError, match="already has a backend named people"):
        backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))


def test_only_owners_register_and_outsiders_do_not_learn_the_domain_exists(bob, charlie, hr, sqlite_file):
    with pytest.raises(Forbidden):
        backend_register(actor=bob, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    with pytest.raises(Http404):
        backend_register(actor=charlie, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    assert not Backend.objects.exists()


def test_a_check_records_an_unreachable_backend_instead_of_raising(alice, hr, sqlite_file):
    backend = backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    sqlite_file.unlink()
    checked = backend_check(actor=alice, backend=backend)
    checked.refresh_from_db()
    assert checked.health == Backend.Health.ERROR
    assert checked.health_message == f"could not connect: file not found: {sqlite_file}"
    assert AuditEvent.objects.filter(action="backend.check", details__health="error").count() == 1


def test_a_changed_password_is_tested_before_it_replaces_the_old_one(alice, hr, password_pg: PasswordServer):
    backend = backend_register(actor=alice, domain=hr, slug="shop", kind=Backend.Kind.POSTGRESQL, url=password_pg.url(),
                               password=password_pg.password)  # fmt: skip
    before = bytes(backend.encrypted_password)
    with pytest.raises(BackendUnavailable, match="password authentication failed"):
        backend_update(actor=alice, backend=backend, password="wrong-again")
    backend.refresh_from_db()
    assert bytes(backend.encrypted_password) == before
    assert backend_check(actor=alice, backend=backend).health == Backend.Health.OK
    updated = backend_update(actor=alice, backend=backend, password=password_pg.password)
    assert bytes(updated.encrypted_password) != before
    assert AuditEvent.objects.get(action="backend.update", outcome="success").details == {"fields": ["password"]}


def test_deleting_a_backend_keeps_an_audit_row(alice, hr, sqlite_file):
    backend = backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    backend_delete(actor=alice, backend=backend)
    assert not Backend.objects.exists()
    assert AuditEvent.objects.filter(action="backend.delete", object_repr="hr.people").count() == 1


def test_files_outside_the_configured_roots_are_refused(alice, hr, sqlite_file, settings, tmp_path):
    settings.PORTAL_BACKEND_FILE_ROOTS = [str(tmp_path / "allowed")]
    with pytest.raises(ApplicationError, match="outside the folders backends may be registered from"):
        backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    settings.PORTAL_BACKEND_FILE_ROOTS = [str(tmp_path)]
    assert backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))


def test_deleting_a_backend_marks_its_datasets_removed_and_keeps_what_people_wrote(alice, hr, sqlite_file):
    backend = backend_register(actor=alice, domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(sqlite_file))
    dataset = DatasetFactory(domain=hr, backend=backend, description="Written by alice.")
    backend_delete(actor=alice, backend=backend)
    dataset.refresh_from_db()
    assert dataset.backend is None and dataset.removed_at is not None
    assert dataset.description == "Written by alice."
    page = client_for(alice).get(reverse("catalog:dataset", args=[dataset.address]))
    assert b"Its backend was removed from the portal" in page.content
