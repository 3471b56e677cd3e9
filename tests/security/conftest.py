import pytest

from tests.queries.conftest import table_copy, tables_database  # noqa: F401 - fixtures
from tests.security.world import World, build_world


@pytest.fixture
def world(db: None, table_copy, django_capture_on_commit_callbacks, settings) -> World:  # noqa: F811
    return build_world(
        table_copy=table_copy, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks, settings=settings
    )
