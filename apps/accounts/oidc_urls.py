from django.urls import path

from apps.accounts import views

# The names are mozilla-django-oidc's, which its settings refer to.
urlpatterns = [
    path("authenticate/", views.SSOStartView.as_view(), name="oidc_authentication_init"),
    path("callback/", views.SSOCallbackView.as_view(), name="oidc_authentication_callback"),
]
