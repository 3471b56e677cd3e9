from django.urls import path

from apps.synth import views

app_name = "synth"

urlpatterns = [
    path("", views.new, name="new"),
    path("cost/", views.cost, name="cost"),
    path("submit/", views.submit, name="submit"),
    path("history/", views.history, name="history"),
    path("<int:pk>/", views.job_page, name="job"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/sample.csv", views.sample_csv, name="csv"),
    path("<int:pk>/sample.parquet", views.sample_parquet, name="parquet"),
    path("datasets/<str:address>/preview/", views.preview_panel, name="preview"),
    path("datasets/<str:address>/preview/refresh/", views.preview_refresh, name="preview_refresh"),
]
