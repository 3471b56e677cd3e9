from django.urls import path

from apps.lineage import views

app_name = "lineage"

urlpatterns = [
    path("", views.index, name="index"),
    path("datasets/<str:address>/", views.dataset_page, name="dataset"),
]
