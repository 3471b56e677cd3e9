from django.urls import path

from apps.domains import views

app_name = "domains"
urlpatterns: list = [
    path("harvest-runs/<int:pk>/", views.harvest_run, name="harvest_run"),
    path("<slug:domain>/backends/", views.backend_list, name="backend_list"),
    path("<slug:domain>/backends/new/", views.backend_create, name="backend_create"),
    path("<slug:domain>/backends/<slug:backend>/", views.backend_detail, name="backend_detail"),
    path("<slug:domain>/backends/<slug:backend>/edit/", views.backend_edit, name="backend_edit"),
    path("<slug:domain>/backends/<slug:backend>/delete/", views.backend_remove, name="backend_delete"),
    path("<slug:domain>/backends/<slug:backend>/check/", views.backend_test, name="backend_check"),
    path("<slug:domain>/backends/<slug:backend>/harvest/", views.backend_harvest, name="backend_harvest"),
]
