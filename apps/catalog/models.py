from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.domains.models import Backend, Domain, Sensitivity


class Tag(models.Model):
    name = models.SlugField(max_length=63, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DataProduct(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        DEPRECATED = "deprecated", "Deprecated"
        RETIRED = "retired", "Retired"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="products")
    slug = models.SlugField(max_length=63)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown, rendered through a sanitizer.")
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="owned_products")
    tags = models.ManyToManyField(Tag, blank=True, related_name="products")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    freshness_expectation = models.DurationField(
        null=True, blank=True, help_text="How old the output datasets may get before they are stale."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain__name", "name"]
        constraints = [models.UniqueConstraint(fields=["domain", "slug"], name="product_slug_unique_in_domain")]
        permissions = [("manage_product", "Manage the data product, its datasets and their metadata")]

    def __str__(self) -> str:
        return self.name


class Dataset(models.Model):
    """A table or view of a backend, addressed as ``<domain>.<backend>.<table>``."""

    class Kind(models.TextChoices):
        TABLE = "table", "Backend table"
        SYNTHETIC = "synthetic", "DP synthetic sample"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TABLE, db_index=True)
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derivatives",
        help_text="For a synthetic sample: the confidential dataset it was generated from.",
    )
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="datasets")
    product = models.ForeignKey(
        DataProduct, null=True, blank=True, on_delete=models.SET_NULL, related_name="datasets"
    )
    backend = models.ForeignKey(Backend, null=True, blank=True, on_delete=models.SET_NULL, related_name="datasets")
    address = models.CharField(max_length=300, unique=True)
    name = models.CharField(max_length=200)
    table_schema = models.CharField(max_length=200, blank=True)
    table_name = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown, rendered through a sanitizer.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="datasets")
    sensitivity = models.CharField(max_length=16, choices=Sensitivity.choices, default=Sensitivity.OPEN)
    privacy_unit_column = models.CharField(
        max_length=200, blank=True, help_text="The column that identifies one person (the privacy unit)."
    )
    max_rows_per_unit = models.PositiveIntegerField(
        default=1, help_text="Most rows one privacy unit may contribute; more are dropped before aggregation."
    )
    row_count = models.BigIntegerField(null=True, blank=True, help_text="Only ever read for open datasets.")
    version = models.PositiveIntegerField(default=1)
    search_text = models.TextField(blank=True, editable=False)
    harvested_at = models.DateTimeField(null=True, blank=True)
    data_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the data last changed, from harvests and lineage events."
    )
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when a harvest no longer finds the table."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["address"]
        constraints = [
            models.CheckConstraint(condition=Q(max_rows_per_unit__gte=1), name="dataset_max_rows_per_unit_positive"),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def is_confidential(self) -> bool:
        return self.sensitivity == Sensitivity.CONFIDENTIAL


class Column(models.Model):
    class LogicalType(models.TextChoices):
        INTEGER = "integer", "Integer"
        FLOAT = "float", "Float"
        STRING = "string", "String"
        BOOLEAN = "boolean", "Boolean"
        DATE = "date", "Date"
        DATETIME = "datetime", "Date and time"
        OTHER = "other", "Other"

    class Classification(models.TextChoices):
        IDENTIFIER = "identifier", "Identifier"
        QUASI_IDENTIFIER = "quasi_identifier", "Quasi-identifier"
        SENSITIVE = "sensitive", "Sensitive"
        PUBLIC = "public", "Public"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=200)
    position = models.PositiveIntegerField(default=0)
    data_type = models.CharField(max_length=100, help_text="The type the backend reports.")
    logical_type = models.CharField(max_length=16, choices=LogicalType.choices, default=LogicalType.OTHER)
    nullable = models.BooleanField(default=True)
    is_unique = models.BooleanField(
        default=False,
        help_text="The backend enforces one row per value (a single-column primary key or unique constraint).",
    )
    description = models.TextField(blank=True)
    classification = models.CharField(
        max_length=20, choices=Classification.choices, default=Classification.PUBLIC
    )
    classification_confirmed = models.BooleanField(
        default=False, help_text="False while the classification is only the harvest's suggestion."
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="columns")
    lower_bound = models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True)
    upper_bound = models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True)
    categories = models.JSONField(default=list, blank=True, help_text="The declared, public list of categories.")
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="column_name_unique_in_dataset"),
            models.CheckConstraint(
                condition=Q(lower_bound__isnull=True)
                | Q(upper_bound__isnull=True)
                | Q(lower_bound__lt=models.F("upper_bound")),
                name="column_lower_bound_below_upper",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.address}.{self.name}"

    @property
    def is_numeric(self) -> bool:
        return self.logical_type in (self.LogicalType.INTEGER, self.LogicalType.FLOAT)


class HarvestRun(models.Model):
    """One harvest of one backend, run by a worker; the database is the source of truth."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    backend = models.ForeignKey(Backend, on_delete=models.CASCADE, related_name="harvest_runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=200, blank=True)
    report = models.JSONField(default=dict, blank=True, help_text="Added, changed and removed datasets and columns.")
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"harvest of {self.backend} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
