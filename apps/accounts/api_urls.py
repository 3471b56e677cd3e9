from django.urls import path

from apps.accounts import apis

urlpatterns = [
    path("token/", apis.TokenObtainApi.as_view(), name="api-token"),
]
