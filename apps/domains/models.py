from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class Sensitivity(models.TextChoices):
    OPEN = "open", "Open"
    CONFIDENTIAL = "confidential", "Confidential"


class Domain(models.Model):
    """A business domain of the mesh: it owns its backends and publishes data products."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown.")
    sensitivity = models.CharField(max_length=16, choices=Sensitivity.choices, default=Sensitivity.OPEN)
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="owned_domains")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="member_of_domains",
        help_text="The people who work in this domain: usage KPIs count them as this domain consuming data.",
    )
    visible_to_groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="visible_domains",
        help_text="Groups that may see this domain's metadata. Empty: every signed-in user.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_domain", "Manage the domain: metadata, backends, products, datasets and privacy policies"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_confidential(self) -> bool:
        return self.sensitivity == Sensitivity.CONFIDENTIAL


class Backend(models.Model):
    """A database a domain registers; the portal reads its schema (and aggregates) from it.

    ``url`` never holds the password: that lives in ``encrypted_password``, encrypted with
    ``PORTAL_CREDENTIALS_KEY``, and is never shown back.
    """

    class Kind(models.TextChoices):
        POSTGRESQL = "postgresql", "PostgreSQL"
        SQLITE = "sqlite", "SQLite file"
        DUCKDB = "duckdb", "DuckDB database file"
        DUCKDB_FOLDER = "duckdb_folder", "Folder of Parquet/CSV files (DuckDB)"
        SQLALCHEMY = "sqlalchemy", "Other SQLAlchemy URL"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Not checked"
        OK = "ok", "Healthy"
        ERROR = "error", "Unreachable"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="backends")
    slug = models.SlugField(max_length=63, help_text="Second part of the addresses of its datasets.")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    url = models.CharField(max_length=1000, help_text="Connection URL or path, without password.")
    encrypted_password = models.BinaryField(blank=True, default=b"", editable=False)
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    health_message = models.CharField(max_length=500, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain__name", "slug"]
        constraints = [models.UniqueConstraint(fields=["domain", "slug"], name="backend_slug_unique_in_domain")]

    def __str__(self) -> str:
        return f"{self.domain.slug}.{self.slug}"

    @property
    def has_password(self) -> bool:
        return bool(self.encrypted_password)
