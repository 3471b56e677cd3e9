import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from django.db import transaction
from django.http import Http404

from apps.catalog.harvest import suggest_classification
from apps.catalog.harvest_services import harvest_backend_now, harvest_request, harvest_run
from apps.catalog.models import Column, Dataset, HarvestRun, Tag
from apps.core.errors import Forbidden
from apps.domains.models import Backend, Domain, Sensitivity
from apps.usage.models import AuditEvent
from tests.domains.backends import make_duckdb, make_folder, make_sqlite, shared_postgres_database
from tests.factories import BackendFactory, DomainFactory

pytestmark = pytest.mark.django_db
C = Column.Classification


@pytest.fixture
def sales(alice) -> Domain:
    domain = DomainFactory(slug="sales", sensitivity=Sensitivity.OPEN)
    domain.owners.add(alice)
    return domain


@pytest.fixture
def people(hr, tmp_path: Path) -> Backend:
    """A confidential SQLite backend: hr.people.staff and hr.people.teams."""
    return BackendFactory(domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(make_sqlite(tmp_path / "s.db")))


@pytest.fixture
def shop(sales, tmp_path: Path) -> Backend:
    """An open DuckDB backend with 250 orders and a table in another schema."""
    path = make_duckdb(tmp_path / "shop.duckdb")
    return BackendFactory(domain=sales, slug="shop", kind=Backend.Kind.DUCKDB, url=str(path))


@pytest.fixture
def eager_celery(settings) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True


def _report(run: HarvestRun) -> dict[str, list[str]]:
    assert "warnings" not in run.report
    return run.report


def test_a_harvest_catalogues_tables_and_columns_with_suggested_classifications(alice, people):
    run = harvest_backend_now(actor=alice, backend=people)

    assert (run.status, run.progress) == (HarvestRun.Status.SUCCEEDED, 100)
    assert sorted(run.report["added"]) == ["hr.people.staff", "hr.people.teams"]
    staff = Dataset.objects.get(address="hr.people.staff")
    assert (staff.sensitivity, staff.table_schema, staff.table_name) == ("confidential", "main", "staff")
    columns = {c.name: c for c in staff.columns.all()}
    assert [c.name for c in staff.columns.order_by("position")] == ["person_id", "full_name", "email", "age", "salary"]
    assert {n: c.classification for n, c in columns.items()} == {
        "person_id": C.IDENTIFIER, "full_name": C.IDENTIFIER, "email": C.IDENTIFIER,
        "age": C.QUASI_IDENTIFIER, "salary": C.SENSITIVE,
    }  # fmt: skip
    assert not any(c.classification_confirmed for c in columns.values())
    assert (columns["age"].logical_type, columns["salary"].logical_type) == ("integer", "float")
    assert "full_name" in staff.search_text
    assert AuditEvent.objects.filter(action="harvest.finish", object_id=str(run.pk), outcome="success").count() == 1


def test_row_counts_are_read_for_open_datasets_only(alice, people, shop):
    harvest_backend_now(actor=alice, backend=people)
    harvest_backend_now(actor=alice, backend=shop)
    assert Dataset.objects.get(address="sales.shop.orders").row_count == 250
    assert Dataset.objects.get(address="hr.people.staff").row_count is None


def test_a_confidential_harvest_never_reads_the_data(alice, hr, sales, tmp_path):
    """The view raises an error whenever a row is read: only the open harvest trips over it."""
    path = tmp_path / "trap.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE t AS SELECT * FROM range(3) r(i)")
        db.execute("CREATE VIEW trap AS SELECT i FROM t WHERE error('rows were read') IS NULL")
    confidential = BackendFactory(domain=hr, slug="trap", kind=Backend.Kind.DUCKDB, url=str(path))
    opened = BackendFactory(domain=sales, slug="trap", kind=Backend.Kind.DUCKDB, url=str(path))

    quiet = harvest_backend_now(actor=alice, backend=confidential)
    loud = harvest_backend_now(actor=alice, backend=opened)

    assert quiet.status == loud.status == HarvestRun.Status.SUCCEEDED
    assert "warnings" not in quiet.report
    assert "rows were read" in " ".join(loud.report["warnings"])
    assert Dataset.objects.get(address="hr.trap.t").row_count is None
    assert Dataset.objects.get(address="sales.trap.t").row_count == 3


def test_a_dataset_an_owner_made_confidential_in_an_open_domain_loses_its_row_count(alice, shop):
    harvest_backend_now(actor=alice, backend=shop)
    Dataset.objects.filter(address="sales.shop.orders").update(sensitivity=Sensitivity.CONFIDENTIAL)
    harvest_backend_now(actor=alice, backend=shop)
    orders = Dataset.objects.get(address="sales.shop.orders")
    assert (orders.sensitivity, orders.row_count) == ("confidential", None)


def test_a_table_outside_the_default_schema_has_the_schema_in_its_address(alice, shop):
    harvest_backend_now(actor=alice, backend=shop)
    archived = Dataset.objects.get(address="sales.shop.archive.orders_2024")
    assert (archived.table_schema, archived.table_name) == ("archive", "orders_2024")


def test_a_second_harvest_changes_nothing_and_keeps_what_people_wrote(alice, people):
    harvest_backend_now(actor=alice, backend=people)
    staff = Dataset.objects.get(address="hr.people.staff")
    staff.description, staff.privacy_unit_column, staff.max_rows_per_unit = "Everyone on payroll.", "person_id", 3
    staff.save()
    staff.tags.add(Tag.objects.create(name="payroll"))
    Column.objects.filter(dataset=staff, name="age").update(
        description="Age in years", lower_bound=Decimal(16), upper_bound=Decimal(80),
        classification=C.SENSITIVE, classification_confirmed=True,
    )  # fmt: skip
    Column.objects.filter(dataset=staff, name="full_name").update(categories=["x"], description="Legal name")

    second = harvest_backend_now(actor=alice, backend=people)

    assert second.status == HarvestRun.Status.SUCCEEDED
    assert _report(second) == {"added": [], "changed": [], "removed": []}
    staff.refresh_from_db()
    assert (staff.description, staff.privacy_unit_column, staff.max_rows_per_unit, staff.version) == (
        "Everyone on payroll.", "person_id", 3, 1,
    )  # fmt: skip
    assert list(staff.tags.values_list("name", flat=True)) == ["payroll"]
    age = staff.columns.get(name="age")
    assert (age.description, age.lower_bound, age.upper_bound) == ("Age in years", 16, 80)
    assert (age.classification, age.classification_confirmed) == (C.SENSITIVE, True)
    assert staff.columns.get(name="full_name").categories == ["x"]
    assert "Everyone on payroll" in staff.search_text


def test_changed_types_removed_and_returning_tables_are_reported(alice, people):
    harvest_backend_now(actor=alice, backend=people)
    with sqlite3.connect(people.url) as db:
        db.execute("DROP TABLE teams")
        db.execute("ALTER TABLE staff DROP COLUMN email")
        db.execute("ALTER TABLE staff ADD COLUMN zip_code TEXT")
        db.execute("CREATE TABLE tmp (person_id INTEGER, age TEXT)")
    third = harvest_backend_now(actor=alice, backend=people)
    assert _report(third) == {
        "added": ["hr.people.staff.zip_code", "hr.people.tmp"],
        "changed": [],
        "removed": ["hr.people.staff.email", "hr.people.teams"],
    }
    assert Dataset.objects.get(address="hr.people.teams").removed_at is not None
    staff = Dataset.objects.get(address="hr.people.staff")
    assert staff.version == 2
    assert staff.columns.get(name="email").removed_at is not None
    assert staff.columns.get(name="zip_code").classification == C.QUASI_IDENTIFIER
    assert "email" not in staff.search_text

    with sqlite3.connect(people.url) as db:
        db.execute("CREATE TABLE teams (team_id INTEGER, label TEXT)")
        db.execute("DROP TABLE tmp")
        db.execute("CREATE TABLE tmp (person_id INTEGER, age INTEGER)")
    back = harvest_backend_now(actor=alice, backend=people)
    assert _report(back) == {"added": ["hr.people.teams"], "changed": ["hr.people.tmp.age"], "removed": []}
    assert Dataset.objects.get(address="hr.people.teams").removed_at is None
    age = Column.objects.get(dataset__address="hr.people.tmp", name="age")
    assert (age.data_type, age.logical_type) == ("INTEGER", "integer")


def test_a_duplicate_delivery_of_the_same_run_does_nothing(alice, people):
    run = HarvestRun.objects.create(backend=people, requested_by=alice)
    first = harvest_run(run_id=run.pk)
    second = harvest_run(run_id=run.pk)
    assert first is not None and first.status == HarvestRun.Status.SUCCEEDED
    assert second is None
    run.refresh_from_db()
    assert run.finished_at == first.finished_at
    assert AuditEvent.objects.filter(action="harvest.finish", object_id=str(run.pk)).count() == 1


def test_an_unreachable_backend_fails_the_run_with_a_clear_message(alice, people):
    Path(people.url).unlink()
    run = harvest_backend_now(actor=alice, backend=people)
    assert run.status == HarvestRun.Status.FAILED
    assert run.message == f"could not connect: file not found: {people.url}"
    people.refresh_from_db()
    assert people.health == Backend.Health.ERROR
    assert AuditEvent.objects.filter(action="harvest.finish", outcome="failed").count() == 1


def test_a_requested_harvest_is_queued_and_run_on_commit(
    alice, people, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run = harvest_request(actor=alice, backend=people)
        assert HarvestRun.objects.get(pk=run.pk).status == HarvestRun.Status.QUEUED
    run.refresh_from_db()
    assert run.status == HarvestRun.Status.SUCCEEDED
    assert Dataset.objects.filter(backend=people).count() == 2
    assert AuditEvent.objects.filter(action="harvest.request", actor=alice).count() == 1


def test_a_second_request_while_one_is_queued_gives_back_the_same_run(
    alice, people, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first = harvest_request(actor=alice, backend=people)
        second = harvest_request(actor=alice, backend=people)
    assert first.pk == second.pk
    assert HarvestRun.objects.count() == 1


def test_a_request_in_a_rolled_back_transaction_enqueues_nothing(alice, people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        harvest_request(actor=alice, backend=people)
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as none, pytest.raises(RuntimeError), transaction.atomic():
        harvest_request(actor=alice, backend=people)
        raise RuntimeError("roll back")
    assert none == []


def test_only_owners_harvest_and_outsiders_get_404(bob, charlie, people):
    with pytest.raises(Forbidden):
        harvest_request(actor=bob, backend=people)
    with pytest.raises(Http404):
        harvest_backend_now(actor=charlie, backend=people)
    assert not HarvestRun.objects.exists()


def test_a_folder_and_a_postgresql_database_are_harvested_too(alice, sales, tmp_path):
    folder = BackendFactory(domain=sales, slug="files", kind=Backend.Kind.DUCKDB_FOLDER,
                            url=str(make_folder(tmp_path / "files")))  # fmt: skip
    harvest_backend_now(actor=alice, backend=folder)
    assert Dataset.objects.get(address="sales.files.regions").row_count == 12
    assert Dataset.objects.get(address="sales.files.channels").row_count == 3
    with shared_postgres_database() as url:
        pg = BackendFactory(domain=sales, slug="pg", kind=Backend.Kind.POSTGRESQL, url=url)
        run = harvest_backend_now(actor=alice, backend=pg)
    assert sorted(run.report["added"]) == ["sales.pg.finance.ledger", "sales.pg.people"]
    assert Dataset.objects.get(address="sales.pg.people").row_count == 3
    booked = Column.objects.get(dataset__address="sales.pg.finance.ledger", name="booked_at")
    assert (booked.data_type, booked.logical_type) == ("TIMESTAMP WITH TIME ZONE", "datetime")


@pytest.mark.parametrize(
    ("name", "data_type", "expected"),
    [
        ("name", "TEXT", C.IDENTIFIER), ("firstName", "TEXT", C.IDENTIFIER), ("email_address", "TEXT", C.IDENTIFIER),
        ("SSN", "TEXT", C.IDENTIFIER), ("phone_number", "TEXT", C.IDENTIFIER), ("home_address", "TEXT", C.IDENTIFIER),
        ("date_of_birth", "DATE", C.IDENTIFIER), ("birthdate", "DATE", C.IDENTIFIER),
        ("person_id", "INTEGER", C.IDENTIFIER), ("customer_id", "INTEGER", C.IDENTIFIER),
        ("client_ip", "INET", C.IDENTIFIER),
        ("age", "INTEGER", C.QUASI_IDENTIFIER), ("sex", "TEXT", C.QUASI_IDENTIFIER),
        ("zip", "TEXT", C.QUASI_IDENTIFIER), ("ZipCode", "TEXT", C.QUASI_IDENTIFIER),
        ("race", "TEXT", C.QUASI_IDENTIFIER), ("native-country", "TEXT", C.QUASI_IDENTIFIER),
        ("marital_status", "TEXT", C.QUASI_IDENTIFIER),
        ("salary", "REAL", C.SENSITIVE), ("annual_income", "REAL", C.SENSITIVE),
        ("health_status", "TEXT", C.SENSITIVE), ("diagnosis_code", "TEXT", C.SENSITIVE),
        ("product_name", "TEXT", C.PUBLIC), ("order_id", "INTEGER", C.PUBLIC), ("amount", "REAL", C.PUBLIC),
        ("region", "TEXT", C.PUBLIC), ("usage", "TEXT", C.PUBLIC), ("message", "TEXT", C.PUBLIC),
    ],
)  # fmt: skip
def test_classifications_are_suggested_from_names_and_types(name, data_type, expected):
    assert suggest_classification(name, data_type) == expected
