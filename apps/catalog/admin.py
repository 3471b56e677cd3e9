"""Admin screens for the catalog's metadata. They show metadata only, never a row of a backend."""

from django.contrib import admin

from apps.catalog.models import Column, DataProduct, Dataset, HarvestRun, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(DataProduct)
class DataProductAdmin(admin.ModelAdmin):
    list_display = ["name", "domain", "status", "updated_at"]
    list_filter = ["status", "domain"]
    search_fields = ["name", "slug", "description"]
    filter_horizontal = ["owners", "tags"]


class ColumnInline(admin.TabularInline):
    model = Column
    extra = 0
    fields = [
        "position", "name", "data_type", "logical_type", "classification", "classification_confirmed",
        "lower_bound", "upper_bound", "removed_at",
    ]
    readonly_fields = ["position", "name", "data_type", "logical_type", "removed_at"]
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["address", "domain", "product", "sensitivity", "harvested_at", "removed_at"]
    list_filter = ["sensitivity", "domain"]
    search_fields = ["address", "name", "description"]
    readonly_fields = ["search_text", "row_count", "version", "harvested_at", "removed_at", "created_at", "updated_at"]
    filter_horizontal = ["tags"]
    inlines = [ColumnInline]


@admin.register(Column)
class ColumnAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "logical_type", "classification", "classification_confirmed"]
    list_filter = ["classification", "classification_confirmed", "logical_type"]
    search_fields = ["name", "dataset__address", "description"]
    filter_horizontal = ["tags"]


@admin.register(HarvestRun)
class HarvestRunAdmin(admin.ModelAdmin):
    list_display = ["backend", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in HarvestRun._meta.get_fields() if f.concrete]
