"""Lineage: which datasets a job read and wrote, from OpenLineage run events and from the portal itself.

A ``LineageNode`` is either a catalog dataset (``dataset`` set) or an external placeholder for an
OpenLineage dataset that no catalog dataset matches (``dataset`` empty, known by ``namespace`` and
``name`` only). Placeholders are never catalog datasets: they have no domain, no schema, no rows.

Edges a synthetic sample has to its source are not stored here: they are read from
``Dataset.derived_from`` when a graph is drawn, so they can never disagree with the catalog.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.catalog.models import Dataset


class EventType(models.TextChoices):
    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    OTHER = "OTHER"


# Longest namespace, name and field OpenLineage may send: unique indexes must fit PostgreSQL's index rows.
NAME_MAX = 300
FIELD_MAX = 255


class LineageNode(models.Model):
    dataset = models.OneToOneField(
        Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="lineage_node"
    )
    namespace = models.CharField(max_length=NAME_MAX, blank=True, help_text="OpenLineage namespace (placeholders).")
    name = models.CharField(max_length=NAME_MAX, blank=True, help_text="OpenLineage name (placeholders).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["namespace", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "name"], condition=Q(dataset__isnull=True), name="lineage_placeholder_unique"
            ),
        ]

    def __str__(self) -> str:
        if self.dataset_id is not None:
            return self.dataset.address
        return f"{self.namespace}/{self.name}"

    @property
    def is_external(self) -> bool:
        return self.dataset_id is None


class Job(models.Model):
    """An OpenLineage job (``job.namespace`` and ``job.name``), or one of the portal's own."""

    namespace = models.CharField(max_length=NAME_MAX)
    name = models.CharField(max_length=NAME_MAX)

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="lineage_job_unique")]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class RunEvent(models.Model):
    """One accepted OpenLineage RunEvent, kept whole. One row per (poster, run id, event type): a run id
    is chosen by the client, so another poster's event with the same run id is never a replay of it."""

    run_id = models.UUIDField()
    event_type = models.CharField(max_length=16, choices=EventType.choices, blank=True)
    event_time = models.DateTimeField()
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    producer = models.CharField(max_length=2000)
    schema_url = models.CharField(max_length=2000)
    payload = models.JSONField()
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["submitted_by", "run_id", "event_type"], name="lineage_event_once_per_poster_run_and_type"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.event_type or 'event'} {self.run_id}"


class Edge(models.Model):
    """Data flowed from ``source`` to ``target`` through a job."""

    class Origin(models.TextChoices):
        OPENLINEAGE = "openlineage", "OpenLineage event"
        PORTAL = "portal", "Recorded by the portal"

    source = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="edges_out")
    target = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="edges_in")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="edges")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.OPENLINEAGE)
    first_event = models.ForeignKey(RunEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "job"], name="lineage_edge_once_per_job"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


class ColumnEdge(models.Model):
    """One field of an output computed from one field of an input (the ``columnLineage`` facet)."""

    source = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="column_edges_out")
    source_field = models.CharField(max_length=FIELD_MAX)
    target = models.ForeignKey(LineageNode, on_delete=models.CASCADE, related_name="column_edges_in")
    target_field = models.CharField(max_length=FIELD_MAX)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="column_edges")
    transformation = models.CharField(max_length=FIELD_MAX, blank=True)
    first_event = models.ForeignKey(RunEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_field", "target", "target_field", "job"],
                name="lineage_column_edge_once_per_job",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}.{self.source_field} -> {self.target}.{self.target_field}"
