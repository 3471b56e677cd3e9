from django.urls import path

from apps.catalog.api_urls import CatalogNameConverter  # noqa: F401 - registers <catalog_name:…>
from apps.privacy import apis

urlpatterns = [
    path("policies/", apis.PolicyListApi.as_view(), name="api-policies"),
    path("policies/<int:pk>/", apis.PolicyDetailApi.as_view(), name="api-policy"),
    path("budgets/", apis.MyBudgetsApi.as_view(), name="api-my-budgets"),
    path("datasets/<catalog_name:address>/budget/", apis.DatasetBudgetApi.as_view(), name="api-dataset-budget"),
    path("cost-preview/", apis.CostPreviewApi.as_view(), name="api-cost-preview"),
    path("reservations/", apis.ReservationListApi.as_view(), name="api-reservations"),
    path("reservations/<int:pk>/release/", apis.ReservationReleaseApi.as_view(), name="api-reservation-release"),
    path("access-requests/", apis.AccessRequestListApi.as_view(), name="api-access-requests"),
    path("access-requests/<int:pk>/", apis.AccessRequestDetailApi.as_view(), name="api-access-request"),
    *[
        path(
            f"access-requests/<int:pk>/{action}/",
            apis.AccessRequestDecisionApi.as_view(action=action),
            name=f"api-access-request-{action}",
        )
        for action in ("approve", "deny", "withdraw")
    ],
]
