from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.catalog.models import Dataset
from apps.privacy.models import DELTA_FIELD, EPSILON_FIELD, LedgerEntry


class SynthJob(models.Model):
    """One DP synthetic sample (``sample``), or the owner-funded preview of a dataset (``preview``).

    The database is the source of truth; the broker only carries the job's id. The sample itself is
    a file addressed by the job's id (``apps.synth.storage``), never by a name a user gave.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Purpose(models.TextChoices):
        SAMPLE = "sample", "Synthetic sample"
        PREVIEW = "preview", "Dataset preview"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="synth_jobs")
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="synth_jobs")
    dataset_version = models.PositiveIntegerField()
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.SAMPLE, db_index=True)
    synthesizer = models.CharField(max_length=32)
    columns = models.JSONField(default=list, help_text="The synthesized columns, in order.")
    epsilon = models.DecimalField(**EPSILON_FIELD)
    delta = models.DecimalField(**DELTA_FIELD, default=0)
    rows = models.PositiveIntegerField(help_text="Rows asked for (never the true row count).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    reservation = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="synth_job"
    )
    cancel_requested = models.BooleanField(default=False)
    data_touched = models.BooleanField(
        default=False, help_text="Set before the backend is first asked for counts: from then on the job is charged."
    )
    phase = models.CharField(max_length=200, blank=True)
    progress = models.FloatField(default=0)
    progress_at = models.DateTimeField(null=True, blank=True)
    details = models.JSONField(null=True, blank=True, help_text="Public parameters of the fitted synthesizer.")
    profile = models.JSONField(null=True, blank=True, help_text="Preview: the noisy histogram of each column.")
    utility = models.JSONField(null=True, blank=True, help_text="TVD against the real data: owners only.")
    sample_rows = models.PositiveIntegerField(null=True, blank=True)
    output = models.OneToOneField(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="synth_origin"
    )
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["dataset", "purpose", "status"])]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=1), name="synth_progress_fraction"),
            models.CheckConstraint(condition=Q(rows__gte=1), name="synth_rows_positive"),
        ]

    def __str__(self) -> str:
        return f"synth {self.purpose} {self.pk} on {self.dataset_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)

    @property
    def percent(self) -> int:
        return 100 if self.status == self.Status.SUCCEEDED else int(self.progress * 100)

    @property
    def eta_seconds(self) -> int | None:
        """Seconds left, extrapolated from the progress so far; None until there is enough to go by."""
        if self.status != self.Status.RUNNING or self.started_at is None or self.progress_at is None:
            return None
        if self.progress < 0.02:
            return None
        elapsed: timedelta = self.progress_at - self.started_at
        return max(0, round(elapsed.total_seconds() * (1 - self.progress) / self.progress))
