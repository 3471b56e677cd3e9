from django.urls import path, register_converter

from apps.catalog import apis


class CatalogNameConverter:
    """A dataset address (``hr.census.adult``: dots allowed) or a column name: no slash, no control character."""

    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CatalogNameConverter, "catalog_name")

urlpatterns = [
    path("domains/", apis.DomainListApi.as_view(), name="api-domains"),
    path("domains/<slug:slug>/", apis.DomainDetailApi.as_view(), name="api-domain"),
    path("domains/<slug:slug>/products/", apis.DomainProductsApi.as_view(), name="api-domain-products"),
    path("domains/<slug:slug>/products/<slug:product>/", apis.ProductDetailApi.as_view(), name="api-product"),
    path("products/", apis.ProductListApi.as_view(), name="api-products"),
    path("datasets/", apis.DatasetListApi.as_view(), name="api-datasets"),
    path("datasets/<catalog_name:address>/", apis.DatasetDetailApi.as_view(), name="api-dataset"),
    path("datasets/<catalog_name:address>/columns/", apis.ColumnListApi.as_view(), name="api-columns"),
    path(
        "datasets/<catalog_name:address>/columns/<catalog_name:name>/",
        apis.ColumnDetailApi.as_view(),
        name="api-column",
    ),
    path("dcat/", apis.DcatCatalogApi.as_view(), name="api-dcat"),
]
