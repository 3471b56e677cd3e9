"""Admin pages for domains and (read-only) backends.

Backends are registered, changed and removed through the portal's services, which test the
connection, encrypt the password and write the audit row; the admin only shows them, never the
password.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.domains.models import Backend, Domain


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "sensitivity"]
    list_filter = ["sensitivity"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["owners", "visible_to_groups"]


@admin.register(Backend)
class BackendAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "health", "health_checked_at"]
    list_filter = ["kind", "health"]
    search_fields = ["slug", "domain__slug"]
    fields = [
        "domain",
        "slug",
        "kind",
        "url",
        "has_password",
        "health",
        "health_message",
        "health_checked_at",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(boolean=True, description="Password stored")
    def has_password(self, backend: Backend) -> bool:
        return backend.has_password

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
