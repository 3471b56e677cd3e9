from django.urls import path

from apps.privacy import views

app_name = "privacy"
urlpatterns: list = [
    path("", views.index, name="index"),
    path("me/", views.my_page, name="me"),
    path("users/<str:username>/", views.user_page, name="user"),
    path("datasets/<str:address>/", views.dataset_editor, name="dataset"),
    path("datasets/<str:address>/budget/", views.dataset_budget, name="budget"),
    path("datasets/<str:address>/policies/new/", views.policy_create, name="policy_create"),
    path("datasets/<str:address>/policies/<int:pk>/", views.policy_row, name="policy"),
    path("datasets/<str:address>/policies/<int:pk>/edit/", views.policy_edit, name="policy_edit"),
    path("datasets/<str:address>/policies/<int:pk>/revoke/", views.policy_remove, name="policy_revoke"),
    path("requests/", views.request_list, name="requests"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/decide/", views.request_decide, name="request_decide"),
    path("requests/<int:pk>/withdraw/", views.request_withdraw, name="request_withdraw"),
]
