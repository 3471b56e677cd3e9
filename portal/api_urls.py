from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.catalog.search_apis import CatalogSearchApi

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from a URL (``?script``): the CSP allows no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("v1/search/", CatalogSearchApi.as_view(), name="api-search"),
    path("v1/", include("apps.catalog.api_urls")),
    path("v1/", include("apps.domains.api_urls")),
    path("v1/auth/", include("apps.accounts.api_urls")),
    path("v1/", include("apps.privacy.api_urls")),
    path("v1/", include("apps.queries.api_urls")),
    path("v1/", include("apps.synth.api_urls")),
    path("v1/", include("apps.lineage.api_urls")),
    path("v1/", include("apps.usage.api_urls")),
]
