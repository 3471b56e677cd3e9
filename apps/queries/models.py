from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.catalog.models import Dataset
from apps.privacy.models import DELTA_FIELD, EPSILON_FIELD, LedgerEntry


class QueryJob(models.Model):
    """One DP query: its plan, its reservation, and once done its noisy answer. The database is
    the source of truth; the broker only carries the job's id."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="query_jobs")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="query_jobs")
    dataset_version = models.PositiveIntegerField()
    sql = models.TextField()
    normalized_sql = models.TextField()
    plan = models.JSONField()
    mechanism = models.CharField(max_length=16)
    epsilon = models.DecimalField(**EPSILON_FIELD, default=0)
    delta = models.DecimalField(**DELTA_FIELD, default=0)
    rho = models.DecimalField(**EPSILON_FIELD, default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    reservation = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="query_job"
    )
    memo_source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="memo_hits",
        help_text="Set when the answer is the stored answer of an earlier identical query (free).",
    )
    result = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the job's id was last handed to the broker (empty: not yet)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "dataset_version", "mechanism", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(memo_source__isnull=True) | Q(reservation__isnull=True),
                name="query_memo_hit_is_free",
            ),
        ]

    def __str__(self) -> str:
        return f"query {self.pk} on {self.dataset_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)
