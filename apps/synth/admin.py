"""Admin screens for synthetic-data jobs: read-only, since a job's state and budget change only
through the services (which keep the ledger and the audit trail in step)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.synth.models import SynthJob


@admin.register(SynthJob)
class SynthJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "dataset", "purpose", "synthesizer", "rows", "status", "attempts", "created_at"]
    list_filter = ["status", "purpose", "synthesizer"]
    search_fields = ["owner__username", "dataset__address"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in SynthJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
