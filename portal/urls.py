from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("portal.api_urls")),
    path("", include("apps.catalog.urls")),
    path("domains/", include("apps.domains.urls")),
    path("privacy/", include("apps.privacy.urls")),
    path("queries/", include("apps.queries.urls")),
    path("synth/", include("apps.synth.urls")),
    path("lineage/", include("apps.lineage.urls")),
    path("usage/", include("apps.usage.urls")),
]
