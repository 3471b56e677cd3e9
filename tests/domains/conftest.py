from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.accounts.models import User
from apps.domains.models import Domain, Sensitivity
from tests.domains.backends import (
    PasswordServer,
    make_duckdb,
    make_folder,
    make_sqlite,
    password_postgres_server,
    shared_postgres_database,
)
from tests.factories import DomainFactory


@pytest.fixture
def sales(alice: User) -> Domain:
    """An open domain alice owns, visible to every signed-in user."""
    domain = DomainFactory(slug="sales", name="Sales", sensitivity=Sensitivity.OPEN)
    domain.owners.add(alice)
    return domain


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return make_sqlite(tmp_path / "staff.sqlite3")


@pytest.fixture
def duckdb_file(tmp_path: Path) -> Path:
    return make_duckdb(tmp_path / "shop.duckdb")


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "files")


@pytest.fixture(scope="session")
def shared_pg() -> Iterator[str]:
    with shared_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def password_pg() -> Iterator[PasswordServer]:
    with password_postgres_server() as server:
        if server is None:
            pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        yield server
