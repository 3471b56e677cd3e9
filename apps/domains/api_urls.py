from django.urls import path

from apps.domains import apis

urlpatterns = [
    path("backends/", apis.BackendListApi.as_view(), name="api-backends"),
    path("backends/<int:pk>/", apis.BackendDetailApi.as_view(), name="api-backend"),
    path("backends/<int:pk>/test-connection/", apis.BackendTestConnectionApi.as_view(), name="api-backend-test"),
    path("backends/<int:pk>/harvest/", apis.BackendHarvestApi.as_view(), name="api-backend-harvest"),
    path("backends/<int:pk>/harvest-runs/", apis.BackendHarvestRunsApi.as_view(), name="api-backend-harvest-runs"),
    path("harvest-runs/<int:pk>/", apis.HarvestRunDetailApi.as_view(), name="api-harvest-run"),
]
