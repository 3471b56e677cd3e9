from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One row per access or change. Append-only: the application never updates or deletes it
    (on PostgreSQL a trigger of migration 0002 makes UPDATE and DELETE fail).

    ``domain_id`` and ``dataset_id`` say what the row is about (filled by ``audit_record`` from the
    object), so that owners see the rows about their domains and usage KPIs count per dataset. They
    are plain numbers, not foreign keys: the trail outlives what it describes.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success"
        DENIED = "denied"
        REFUSED = "refused"
        FAILED = "failed"

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    request_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    domain_id = models.BigIntegerField(null=True, blank=True, help_text="The domain the row is about.")
    dataset_id = models.BigIntegerField(null=True, blank=True, help_text="The dataset the row is about.")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["domain_id", "occurred_at"], name="usage_audit_domain_time"),
            models.Index(fields=["dataset_id", "occurred_at"], name="usage_audit_dataset_time"),
            models.Index(fields=["request_id"], name="usage_audit_request"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.object_repr} {self.outcome}"


class Scope(models.TextChoices):
    DOMAIN = "domain"
    PRODUCT = "product"
    DATASET = "dataset"


class UsageDay(models.Model):
    """The usage of one domain, product or dataset on one day (UTC), rolled up from the audit trail
    and the privacy ledger: by everyone (``consumer_domain_id`` 0) and by the people of each domain
    (its members and owners when the day was rolled up). ``users`` is the number of distinct people
    that day. A day is recomputed whole, so rolling it up again never counts twice."""

    day = models.DateField()
    scope = models.CharField(max_length=8, choices=Scope.choices)
    scope_id = models.BigIntegerField()
    consumer_domain_id = models.BigIntegerField(default=0, help_text="0: everyone.")
    # For dataset rows: the dataset's domain and product, so a domain's top datasets are one range.
    domain_id = models.BigIntegerField()
    views = models.PositiveIntegerField(default=0)
    queries = models.PositiveIntegerField(default=0)
    synth_jobs = models.PositiveIntegerField(default=0)
    downloads = models.PositiveIntegerField(default=0)
    epsilon_spent = models.DecimalField(max_digits=30, decimal_places=10, default=0)
    users = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "scope_id", "consumer_domain_id", "day"], name="usage_day_one_row"
            ),
        ]
        indexes = [
            # A domain's (or product's) top datasets: one index-only range on PostgreSQL.
            models.Index(
                fields=["domain_id", "scope", "consumer_domain_id", "day"], name="usage_day_domain",
                include=["scope_id", "views", "queries", "synth_jobs", "downloads"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.scope} {self.scope_id} by {self.consumer_domain_id or 'everyone'}"


class UsageLastSeen(models.Model):
    """The last day each person used a domain, product or dataset. Every KPI period ends today, so
    the people of a period are those seen since its first day: distinct users over any period without
    reading a row per person and day."""

    scope = models.CharField(max_length=8, choices=Scope.choices)
    scope_id = models.BigIntegerField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_day = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "scope_id", "actor"], name="usage_last_seen_one_row")]
        indexes = [models.Index(fields=["scope", "scope_id", "last_day"], name="usage_last_seen_recent")]

    def __str__(self) -> str:
        return f"{self.scope} {self.scope_id}: user {self.actor_id} on {self.last_day}"


class UsageRolledDay(models.Model):
    """Which days ``UsageDay`` holds: ``complete`` once the day is over (and a grace period has
    passed); today is rolled up again on read, at most every few seconds."""

    day = models.DateField(primary_key=True)
    rolled_at = models.DateTimeField()
    complete = models.BooleanField(default=False)
    events = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day} ({'complete' if self.complete else 'partial'})"


class DatasetPopularity(models.Model):
    """Events on a dataset over the last ``POPULARITY_DAYS`` days, refreshed by the rollup: the
    search's tie-breaker after relevance (``apps.catalog.search``)."""

    dataset = models.OneToOneField("catalog.Dataset", on_delete=models.CASCADE, primary_key=True, related_name="+")
    score = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"dataset {self.dataset_id}: {self.score}"
