from django.urls import path

from apps.usage import apis
from apps.usage.urls import AddressConverter  # noqa: F401  (registers "usage_address")

urlpatterns: list = [
    path("audit/", apis.AuditListApi.as_view(), name="api-audit"),
    path("usage/domains/<slug:slug>/", apis.DomainKpisApi.as_view(), name="api-usage-domain"),
    path("usage/domains/<slug:slug>/products/<slug:product>/", apis.ProductKpisApi.as_view(),
         name="api-usage-product"),
    path("usage/datasets/<usage_address:address>/", apis.DatasetKpisApi.as_view(), name="api-usage-dataset"),
]
