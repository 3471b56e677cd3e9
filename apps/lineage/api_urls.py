from django.urls import path, re_path

from apps.lineage import apis

urlpatterns = [
    # OpenLineage clients post to ``…/api/v1/lineage`` exactly; the trailing slash is accepted too.
    re_path(r"^lineage/?$", apis.LineageIngestApi.as_view(), name="api-lineage"),
    path("lineage/graph/", apis.LineageGraphApi.as_view(), name="api-lineage-graph"),
]
