"""Lineage of the demo mesh: marketing's regional sales are built from sales' orders.

Recorded as a real OpenLineage COMPLETE event (with its ``columnLineage`` facet) through the same
service the API uses, under a fixed run id, so loading the demo again records nothing new. The HR
synthetic samples need nothing here: their edges come from ``Dataset.derived_from``.
"""

import uuid
from datetime import UTC, datetime

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.lineage.addresses import PORTAL_NAMESPACE
from apps.lineage.models import Edge
from apps.lineage.services import lineage_event_ingest

ORDERS = "sales.shop.orders"
REGIONAL = "marketing.campaigns.regional_sales"
RUN_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://mesh.example/demo/marketing/build_regional_sales")
COLUMNS = {
    "region": [("region", "IDENTITY")],
    "channel": [("channel", "IDENTITY")],
    "month": [("order_date", "date_trunc month")],
    "orders": [("order_id", "COUNT")],
    "revenue": [("amount", "SUM")],
}


def demo_lineage_event(event_time: datetime) -> dict:
    def field(name: str, how: str) -> dict:
        return {"namespace": PORTAL_NAMESPACE, "name": ORDERS, "field": name,
                "transformations": [{"type": "DIRECT" if how == "IDENTITY" else "INDIRECT", "subtype": how}]}

    return {
        "eventType": "COMPLETE",
        "eventTime": event_time.isoformat(),
        "run": {"runId": str(RUN_ID)},
        "job": {"namespace": "marketing", "name": "build_regional_sales",
                "facets": {"sql": {"_producer": "https://mesh.example/demo", "_schemaURL":
                           "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
                           "query": "SELECT region, channel, date_trunc('month', order_date) AS month, count(*) AS "
                                    "orders, sum(amount) AS revenue FROM sales.orders GROUP BY ALL"}}},
        "inputs": [{"namespace": PORTAL_NAMESPACE, "name": ORDERS}],
        "outputs": [{
            "namespace": PORTAL_NAMESPACE, "name": REGIONAL,
            "facets": {"columnLineage": {
                "_producer": "https://mesh.example/demo",
                "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                "fields": {out: {"inputFields": [field(name, how) for name, how in sources]}
                           for out, sources in COLUMNS.items()},
            }},
        }],
        "producer": "https://mesh.example/demo",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
    }


def demo_lineage_load(*, actor: User) -> bool:
    """Record the demo's lineage once; True when something new was recorded."""
    if Dataset.objects.filter(address__in=[ORDERS, REGIONAL]).count() != 2:
        return False
    result = lineage_event_ingest(actor=actor, body=demo_lineage_event(datetime.now(tz=UTC)),
                                  request_id="demo-mesh", origin=Edge.Origin.PORTAL)
    return result.created
