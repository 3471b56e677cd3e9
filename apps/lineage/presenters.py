"""What the lineage templates need, for the full page and for the panel on a dataset page."""

from typing import Any

from django.urls import reverse

from apps.catalog.models import Tag
from apps.domains.permissions import visible_domains
from apps.lineage.addresses import openlineage_names
from apps.lineage.selectors import GraphOptions, lineage_graph_for

DEPTHS = range(0, 6)


def explorer_context(*, user: Any, address: str, options: GraphOptions, full_page: bool) -> dict[str, Any]:
    graph = lineage_graph_for(user=user, address=address, options=options)
    center = next(node for node in graph.nodes if node["id"] == graph.center)
    domains = visible_domains(user).order_by("name")
    tags = Tag.objects.filter(datasets__domain__in=domains).distinct().order_by("name")[:300]
    return {
        "graph": graph,
        "graph_json": graph.as_json(),
        "center": center,
        "options": options,
        "depths": DEPTHS,
        "domains": domains,
        "tags": tags,
        "edge_rows": graph.edge_rows(),
        "column_rows": graph.column_rows(),
        "full_page": full_page,
        "prefix": "lineage-page" if full_page else "lineage-panel",
        "page_url": reverse("lineage:dataset", args=[address]),
        "api_url": reverse("api-lineage-graph"),
        "openlineage_names": openlineage_names(graph.center_dataset) if graph.center_dataset else [],
    }
