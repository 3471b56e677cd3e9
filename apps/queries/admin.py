"""Admin screens for DP query jobs: read-only, since a job's state and budget change only through
the services (which keep the ledger and the audit trail in step)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.queries.models import QueryJob


@admin.register(QueryJob)
class QueryJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "dataset", "mechanism", "status", "attempts", "created_at", "finished_at"]
    list_filter = ["status", "mechanism"]
    search_fields = ["owner__username", "dataset__address", "normalized_sql"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in QueryJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
