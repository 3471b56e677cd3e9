from django.urls import path, register_converter

from apps.usage import views


class AddressConverter:
    """A dataset address: dots allowed, no slash, no control character."""

    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AddressConverter, "usage_address")

app_name = "usage"

urlpatterns: list = [
    path("", views.index, name="index"),
    path("audit/", views.audit_trail, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
    path("d/<slug:domain>/", views.domain_dashboard, name="domain"),
    path("d/<slug:domain>/export.csv", views.domain_dashboard, {"export": True}, name="domain_export"),
    path("d/<slug:domain>/<slug:product>/", views.product_dashboard, name="product"),
    path("d/<slug:domain>/<slug:product>/export.csv", views.product_dashboard, {"export": True},
         name="product_export"),
    path("datasets/<usage_address:address>/", views.dataset_dashboard, name="dataset"),
    path("datasets/<usage_address:address>/export.csv", views.dataset_dashboard, {"export": True},
         name="dataset_export"),
]
