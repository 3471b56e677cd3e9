from django.urls import path

from apps.queries import views

app_name = "queries"
urlpatterns = [
    path("", views.editor, name="editor"),
    path("preview/", views.preview, name="preview"),
    path("submit/", views.submit, name="submit"),
    path("history/", views.history, name="history"),
    path("<int:pk>/", views.job_page, name="job"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/result.csv", views.result_csv, name="csv"),
]
