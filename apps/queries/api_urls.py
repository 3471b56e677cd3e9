from django.urls import path

from apps.queries import apis

urlpatterns = [
    path("queries/", apis.QueryListApi.as_view(), name="api-queries"),
    path("queries/preview/", apis.QueryPreviewApi.as_view(), name="api-query-preview"),
    path("queries/<int:pk>/", apis.QueryDetailApi.as_view(), name="api-query"),
    path("queries/<int:pk>/cancel/", apis.QueryCancelApi.as_view(), name="api-query-cancel"),
    path("queries/<int:pk>/result.csv", apis.QueryResultCsvApi.as_view(), name="api-query-result-csv"),
]
