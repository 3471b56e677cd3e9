"""Recording lineage: OpenLineage RunEvents posted to ``POST /api/v1/lineage``.

Who may post an event:
- **admins**, any event (their unknown inputs and outputs become external placeholder nodes);
- **owners** of a domain or data product, an event whose every output is a catalog dataset they may
  edit (``apps.domains.permissions.can_edit``). Its inputs may be anything: a job of theirs may read
  other domains' or external datasets. An input (or column-lineage input field) naming a catalog
  dataset the poster may not see is stored as an external placeholder, as an unknown name is.
Anyone else is refused: an output that matches no catalog dataset the poster can see gives 404 (the
same answer whether the dataset is unknown or in a domain they cannot see), an output they can see
but not edit gives 403, an event without outputs from a non-admin gives 403.

Each event is kept once per (poster, run id, event type): the same poster posting it again records
nothing new and answers with the event they stored before. Run ids are chosen by clients, so replays
are never matched across posters: an owner who posts a run id first cannot turn another poster's
event into a "replay", and a replay answer only ever shows the poster's own event.
A ``COMPLETE`` event moves each catalog output's ``data_updated_at`` forward to its ``eventTime``
(never past the moment it is received). Every accepted, replayed or refused ingest leaves one audit
row (``lineage.ingest``).
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core.errors import ApplicationError, Forbidden, NotFound
from apps.domains.permissions import can_edit, can_view
from apps.lineage.addresses import dataset_for
from apps.lineage.models import ColumnEdge, Edge, EventType, Job, LineageNode, RunEvent
from apps.lineage.openlineage import DatasetRef, EventInvalid, ParsedEvent, parse_run_event
from apps.usage.models import AuditEvent
from apps.usage.services import audit_record

ACTION = "lineage.ingest"


@dataclass
class IngestResult:
    event: RunEvent
    created: bool
    parsed: ParsedEvent
    inputs: list[Dataset | None] = field(default_factory=list)
    outputs: list[Dataset | None] = field(default_factory=list)


def _event_details(event: ParsedEvent | None, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = dict(extra)
    if event is not None:
        details.update(
            run_id=str(event.run_id), event_type=event.event_type, job=f"{event.job_namespace}/{event.job_name}"[:300]
        )
    return details


def lineage_ingest_refused(
    *, actor: User, request_id: str, reason: str, outcome: str = AuditEvent.Outcome.REFUSED,
    event: ParsedEvent | None = None, fields: list[str] | None = None,
) -> None:
    """The audit row of an event refused before anything was stored (bad body, no right)."""
    details = _event_details(event, reason=reason[:300])
    if fields:
        details["fields"] = fields[:20]
    with transaction.atomic():
        audit_record(actor=actor, action=ACTION, outcome=outcome, request_id=request_id, details=details)


def _resolve(actor: User, refs: list[DatasetRef], cache: dict[tuple[str, str], Dataset | None]) -> list[Dataset | None]:
    """The catalog dataset each reference names, or None: for an external one, and for one the poster
    may not see (it becomes a placeholder of the poster's event, exactly as an unknown name would, so
    posting tells nothing about what exists, and nobody adds edges to a dataset they cannot see)."""
    found = []
    for ref in refs:
        key = (ref.namespace, ref.name)
        if key not in cache:
            dataset = dataset_for(ref.namespace, ref.name)
            cache[key] = dataset if dataset is not None and can_view(actor, dataset) else None
        found.append(cache[key])
    return found


def _check_poster(actor: User, event: ParsedEvent, outputs: list[Dataset | None]) -> None:
    if actor.is_superuser:
        return
    if not event.outputs:
        raise Forbidden(
            "Only admins may post an event without outputs; domain owners post events whose outputs are "
            "datasets of their domains.",
            field="outputs",
        )
    for index, dataset in enumerate(outputs):
        if dataset is None:
            raise NotFound(
                f"Output {index} (namespace and name as sent) matches no catalog dataset you can see; only admins "
                "may record lineage into external datasets.",
                field=f"outputs[{index}]",
            )
        if not can_edit(actor, dataset):
            raise Forbidden(
                f"Output {index} is {dataset.address}: only its domain's or product's owners and admins may record "
                "lineage into it.",
                field=f"outputs[{index}]",
            )


def _node(ref: DatasetRef, dataset: Dataset | None) -> LineageNode:
    if dataset is not None:
        node, _ = LineageNode.objects.get_or_create(dataset=dataset)
    else:
        node, _ = LineageNode.objects.get_or_create(namespace=ref.namespace, name=ref.name, dataset=None)
    return node


def _edge(source: LineageNode, target: LineageNode, job: Job, event: RunEvent | None, origin: str) -> None:
    if source.pk == target.pk:
        return
    edge, created = Edge.objects.get_or_create(
        source=source, target=target, job=job, defaults={"first_event": event, "origin": origin}
    )
    if not created:
        edge.save(update_fields=["last_seen_at"])


def _store(event: ParsedEvent, actor: User, inputs: list[Dataset | None], outputs: list[Dataset | None],
           cache: dict[tuple[str, str], Dataset | None], origin: str) -> RunEvent:
    job, _ = Job.objects.get_or_create(namespace=event.job_namespace, name=event.job_name)
    stored = RunEvent.objects.create(
        run_id=event.run_id, event_type=event.event_type, event_time=event.event_time, job=job,
        producer=event.producer, schema_url=event.schema_url, payload=event.payload, submitted_by=actor,
    )
    nodes_in = [_node(ref, dataset) for ref, dataset in zip(event.inputs, inputs, strict=True)]
    nodes_out = [_node(ref, dataset) for ref, dataset in zip(event.outputs, outputs, strict=True)]
    for target in nodes_out:
        for source in nodes_in:
            _edge(source, target, job, stored, origin)
    for ref, target in zip(event.outputs, nodes_out, strict=True):
        for output_field, sources in ref.column_lineage.items():
            for source_ref in sources:
                as_ref = DatasetRef(source_ref.namespace, source_ref.name)
                source = _node(as_ref, _resolve(actor, [as_ref], cache)[0])
                _edge(source, target, job, stored, origin)
                ColumnEdge.objects.get_or_create(
                    source=source, source_field=source_ref.field, target=target, target_field=output_field, job=job,
                    defaults={"transformation": source_ref.transformation, "first_event": stored},
                )
    if event.event_type == EventType.COMPLETE:
        moment = min(event.event_time, timezone.now())
        ids = {dataset.pk for dataset in outputs if dataset is not None}
        Dataset.objects.filter(pk__in=ids).filter(
            Q(data_updated_at__isnull=True) | Q(data_updated_at__lt=moment)
        ).update(data_updated_at=moment)
    return stored


def lineage_event_ingest(
    *, actor: User, body: Any, request_id: str = "", origin: str = Edge.Origin.OPENLINEAGE
) -> IngestResult:
    """Validate, authorise and store one RunEvent; idempotent per (poster, run id, event type)."""
    try:
        event = parse_run_event(body)
    except EventInvalid as exc:
        lineage_ingest_refused(actor=actor, request_id=request_id, reason="invalid event",
                               fields=sorted(exc.message_dict))
        raise
    cache: dict[tuple[str, str], Dataset | None] = {}
    inputs = _resolve(actor, event.inputs, cache)
    outputs = _resolve(actor, event.outputs, cache)
    try:
        _check_poster(actor, event, outputs)
    except ApplicationError as exc:
        lineage_ingest_refused(actor=actor, request_id=request_id, reason=exc.code, event=event,
                               outcome=AuditEvent.Outcome.DENIED)
        raise

    with transaction.atomic():
        own = RunEvent.objects.filter(submitted_by=actor, run_id=event.run_id, event_type=event.event_type)
        existing = own.first()
        created = False
        if existing is None:
            try:
                with transaction.atomic():
                    existing = _store(event, actor, inputs, outputs, cache, origin)
                    created = True
            except IntegrityError:
                # Another request of this poster stored the same (run id, event type) first: a replay.
                existing = own.get()
        audit_record(
            actor=actor, action=ACTION, obj=existing, request_id=request_id,
            details=_event_details(event, replay=not created, inputs=len(event.inputs), outputs=len(event.outputs)),
        )
    return IngestResult(event=existing, created=created, parsed=event, inputs=inputs, outputs=outputs)


def lineage_read_audit(*, actor: User, address: str, found: bool, request_id: str) -> None:
    """The audit row of one read of a dataset's lineage graph (``lineage.view``): success, or denied
    for a dataset that is missing or invisible. Anonymous requests are not an action."""
    if not getattr(actor, "is_authenticated", False) or not address:
        return
    dataset = Dataset.objects.filter(address=address).first()
    outcome = AuditEvent.Outcome.SUCCESS if found else AuditEvent.Outcome.DENIED
    with transaction.atomic():
        audit_record(actor=actor, action="lineage.view", obj=dataset, outcome=outcome, request_id=request_id,
                     details={} if dataset is not None else {"found": False})
