from decimal import Decimal

import pytest

from apps.catalog.demo import demo_mesh_load
from apps.catalog.models import Dataset
from apps.usage.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mesh")


def test_the_demo_mesh_has_the_confidential_census_table_annotated_by_its_owner(demo_dir):
    report = demo_mesh_load(password="demo-password-for-tests", demo_dir=demo_dir)
    assert report.created_users == ["admin", "alice", "bob", "charlie"]

    adult = Dataset.objects.get(address="hr.census.adult")
    assert adult.is_confidential
    assert adult.row_count is None
    assert adult.privacy_unit_column == "person_id"
    columns = {column.name: column for column in adult.columns.filter(removed_at__isnull=True)}
    assert len(columns) == 16
    assert (columns["age"].lower_bound, columns["age"].upper_bound) == (Decimal(17), Decimal(90))
    assert columns["sex"].categories == ["Female", "Male"]
    assert adult.domain.owners.filter(username="alice").exists()

    orders = Dataset.objects.get(address="sales.shop.orders")
    assert not orders.is_confidential
    assert orders.row_count == 120_000
    assert Dataset.objects.filter(address="marketing.campaigns.regional_sales").exists()


def test_loading_the_demo_mesh_again_changes_nothing(demo_dir):
    demo_mesh_load(password="demo-password-for-tests", demo_dir=demo_dir)
    events_before = AuditEvent.objects.exclude(action__startswith="harvest").count()
    versions_before = dict(Dataset.objects.values_list("address", "version"))

    report = demo_mesh_load(demo_dir=demo_dir)

    assert report.created_users == []
    assert report.password is None
    for changes in report.harvests.values():
        assert not any(changes.get(kind) for kind in ("added", "changed", "removed")), changes
    assert AuditEvent.objects.exclude(action__startswith="harvest").count() == events_before
    assert dict(Dataset.objects.values_list("address", "version")) == versions_before
