from django.contrib import admin
from django.urls import include, path

from apps.accounts import views as accounts_views

urlpatterns = [
    path("admin/login/", accounts_views.AdminLoginRedirect.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/login/", accounts_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", accounts_views.LogoutView.as_view(), name="logout"),
    path("oidc/", include("apps.accounts.oidc_urls")),
    path("api/", include("portal.api_urls")),
    path("", include("apps.catalog.urls")),
    path("domains/", include("apps.domains.urls")),
    path("privacy/", include("apps.privacy.urls")),
    path("queries/", include("apps.queries.urls")),
    path("synth/", include("apps.synth.urls")),
    path("lineage/", include("apps.lineage.urls")),
    path("usage/", include("apps.usage.urls")),
]

handler404 = "apps.core.views.page_not_found"  # JSON under /api/ (Security: no HTML error in the API)
