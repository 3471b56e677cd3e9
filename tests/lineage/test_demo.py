"""The demo mesh's lineage: marketing's regional sales come from sales' orders, recorded once."""

from apps.accounts.models import User
from apps.lineage.demo import demo_lineage_load
from apps.lineage.models import ColumnEdge, Edge, RunEvent
from tests.factories import DatasetFactory, DomainFactory


def test_the_demo_lineage_is_recorded_once_with_its_columns(admin_user: User) -> None:
    assert demo_lineage_load(actor=admin_user) is False  # no demo datasets yet: nothing to link
    orders = DatasetFactory(domain=DomainFactory(slug="sales"), table_name="orders", address="sales.shop.orders")
    regional = DatasetFactory(domain=DomainFactory(slug="marketing"), table_name="regional_sales",
                              address="marketing.campaigns.regional_sales")

    assert demo_lineage_load(actor=admin_user) is True
    assert demo_lineage_load(actor=admin_user) is False

    edge = Edge.objects.select_related("source", "target").get()
    assert (edge.source.dataset, edge.target.dataset, edge.origin) == (orders, regional, "portal")
    assert RunEvent.objects.count() == 1
    assert {(c.source_field, c.target_field) for c in ColumnEdge.objects.all()} == {
        ("region", "region"), ("channel", "channel"), ("order_date", "month"), ("order_id", "orders"),
        ("amount", "revenue")}
    regional.refresh_from_db()
    assert regional.data_updated_at is not None
