"""hr.census.adult on a real PostgreSQL backend for the job, API and worker tests.

The backend is a database of its own next to the test database (``<test db>_census``), loaded once
with the UCI Adult extract of the demo mesh, plus views that misbehave on purpose:

- ``adult_slow``: the same rows after a pause of ``SLOW_SECONDS`` (to kill a worker mid-query);
- ``adult_leaky``: reading ``age`` fails with an error whose backend message quotes a data value.
"""

from decimal import Decimal

import psycopg
from django.db import connection

from apps.accounts.models import User
from apps.catalog.demo import build_hr_postgres
from apps.catalog.demo_data.declarations import ADULT_BOUNDS, ADULT_CATEGORIES
from apps.catalog.harvest_services import harvest_backend_now
from apps.catalog.models import Column, Dataset
from apps.catalog.services import dataset_update
from apps.domains.models import Backend, Domain
from apps.privacy.services import dataset_budget_set

SLOW_SECONDS = 6
LEAKED = "Zanzibar-4711"
VIEWS = {
    "adult_slow": f"SELECT a.* FROM adult a CROSS JOIN (SELECT pg_sleep({SLOW_SECONDS})) AS pause",  # noqa: S608
    "adult_leaky": (
        "SELECT person_id, CAST(CASE WHEN person_id = 7 THEN '" + LEAKED + "' ELSE age::text END AS integer) AS age, "  # noqa: S608
        "workclass, fnlwgt, education, education_num, marital_status, occupation, relationship, race, sex, "
        "capital_gain, capital_loss, hours_per_week, native_country, salary FROM adult"
    ),
}


def _server() -> dict:
    db = connection.settings_dict
    return {"host": db["HOST"] or "127.0.0.1", "port": int(db["PORT"] or 5432), "user": db["USER"] or "postgres"}


def census_database() -> str:
    """Create (once) the backend database with the Adult table and the views; return its URL."""
    name = f"{connection.settings_dict['NAME']}_census"
    build_hr_postgres(name)
    server = _server()
    with psycopg.connect(dbname=name, autocommit=True, **server) as db:
        for view, body in VIEWS.items():
            db.execute(f"CREATE OR REPLACE VIEW {view} AS {body}")
    return f"postgresql+psycopg://{server['user']}@{server['host']}:{server['port']}/{name}"


def declare(dataset: Dataset, owner: User) -> Dataset:
    """The owner's declarations of the demo mesh: privacy unit, bounds, categories. (The columns are
    written directly: ``column_update`` for 45 columns would cost seconds per test.)"""
    dataset_update(actor=owner, dataset=dataset, privacy_unit_column="person_id", max_rows_per_unit=1)
    columns = Column.objects.filter(dataset=dataset, removed_at__isnull=True)
    for name, (lower, upper) in ADULT_BOUNDS.items():
        columns.filter(name=name).update(lower_bound=lower, upper_bound=upper)
    for name, categories in ADULT_CATEGORIES.items():
        columns.filter(name=name).update(categories=categories)
    dataset_budget_set(actor=owner, dataset=dataset, epsilon_limit=Decimal(20), delta_limit=Decimal("0.0001"))
    return Dataset.objects.get(pk=dataset.pk)


def load_census(*, domain: Domain, owner: User, url: str) -> dict[str, Dataset]:
    """Register and harvest the backend, declare every table and view; table name → dataset."""
    backend = Backend.objects.create(domain=domain, slug="census", kind=Backend.Kind.POSTGRESQL, url=url)
    harvest_backend_now(actor=owner, backend=backend)
    return {
        dataset.table_name: declare(dataset, owner)
        for dataset in Dataset.objects.filter(backend=backend, table_name__in=["adult", *VIEWS])
    }
