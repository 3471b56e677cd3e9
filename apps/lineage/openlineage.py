"""Validation of OpenLineage RunEvents (spec 2-0-2, https://openlineage.io/spec/2-0-2/OpenLineage.json).

Pure code: a parsed JSON body in, a ``ParsedEvent`` out, or ``EventInvalid`` naming every field that
is wrong (``{"fields": {"run.runId": ["…"]}}``). Required: ``eventTime``, ``producer``, ``schemaURL``,
``run.runId`` (a UUID), ``job.namespace`` and ``job.name``. Optional: ``eventType`` (START, RUNNING,
COMPLETE, ABORT, FAIL, OTHER), ``inputs`` and ``outputs`` (``namespace``, ``name``, ``facets``),
and any facets; the ``columnLineage`` facet of an output is checked, because it is stored.

Besides the spec, what a database cannot store is refused here, so that no body gives a 500: NUL
characters and lone surrogates in any string or key, numbers that are not finite, nesting deeper
than ``MAX_DEPTH``, more than ``MAX_DATASETS`` inputs or outputs (or ``MAX_EDGES`` pairs of them),
and names longer than the columns that keep them.
"""

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError

from apps.lineage.models import FIELD_MAX, NAME_MAX, EventType

MAX_DEPTH = 32
MAX_DATASETS = 200
MAX_EDGES = 2000  # inputs times outputs: each pair is an edge
MAX_COLUMN_EDGES = 2000
URI_MAX = 2000


class EventInvalid(ValidationError):
    """A RunEvent the portal refuses; ``message_dict`` names the fields (the API's ``fields``)."""


@dataclass(frozen=True)
class InputField:
    namespace: str
    name: str
    field: str
    transformation: str = ""


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str
    column_lineage: dict[str, list[InputField]] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedEvent:
    event_time: datetime
    producer: str
    schema_url: str
    run_id: uuid.UUID
    event_type: str
    job_namespace: str
    job_name: str
    inputs: list[DatasetRef]
    outputs: list[DatasetRef]
    payload: dict[str, Any]


class _Errors:
    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise EventInvalid(self.fields)


def _storable(value: Any, path: str, depth: int, errors: _Errors) -> None:
    """Walk the whole body once: refuse what PostgreSQL's jsonb or text columns cannot hold."""
    if depth > MAX_DEPTH:
        errors.add(path or "body", f"Nested deeper than {MAX_DEPTH} levels.")
        return
    if isinstance(value, str):
        if not _clean_text(value):
            errors.add(path or "body", "Contains a NUL character or an unpaired surrogate.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.add(path or "body", "Numbers must be finite.")
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if not _clean_text(key):
                errors.add(path or "body", "A key contains a NUL character or an unpaired surrogate.")
                continue
            _storable(item, child, depth + 1, errors)
            if len(errors.fields) > 20:
                return
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable(item, f"{path}[{index}]", depth + 1, errors)
            if len(errors.fields) > 20:
                return


def _clean_text(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(body: dict[str, Any], key: str, path: str, errors: _Errors, *, max_length: int, required: bool = True) -> str:
    value = body.get(key)
    if value is None:
        if required:
            errors.add(path, "This field is required.")
        return ""
    if not isinstance(value, str):
        errors.add(path, "Must be a string.")
        return ""
    if required and not value.strip():
        errors.add(path, "Must not be blank.")
        return ""
    if len(value) > max_length:
        errors.add(path, f"At most {max_length} characters.")
        return ""
    return value


def _object(body: dict[str, Any], key: str, path: str, errors: _Errors, *, required: bool) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        if required:
            errors.add(path, "This field is required.")
        return {}
    if not isinstance(value, dict):
        errors.add(path, "Must be an object.")
        return {}
    return value


def _event_time(body: dict[str, Any], errors: _Errors) -> datetime | None:
    raw = _text(body, "eventTime", "eventTime", errors, max_length=64)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        errors.add("eventTime", "Must be an ISO 8601 date and time, e.g. 2020-12-28T19:52:00.001+10:00.")
        return None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not 1900 <= moment.year <= 9998:
        errors.add("eventTime", "Must lie between the years 1900 and 9998.")
        return None
    return moment


def _run_id(run: dict[str, Any], errors: _Errors) -> uuid.UUID | None:
    raw = _text(run, "runId", "run.runId", errors, max_length=64)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        errors.add("run.runId", "Must be a UUID.")
        return None


def _event_type(body: dict[str, Any], errors: _Errors) -> str:
    raw = body.get("eventType")
    if raw is None:
        return ""
    if not isinstance(raw, str) or raw not in EventType.values:
        errors.add("eventType", f"Must be one of {', '.join(EventType.values)}.")
        return ""
    return raw


def _column_lineage(facets: dict[str, Any], path: str, errors: _Errors) -> dict[str, list[InputField]]:
    facet = facets.get("columnLineage")
    if facet is None:
        return {}
    path = f"{path}.facets.columnLineage"
    if not isinstance(facet, dict):
        errors.add(path, "Must be an object.")
        return {}
    fields = facet.get("fields")
    if not isinstance(fields, dict):
        errors.add(f"{path}.fields", "Must be an object that maps output fields to their input fields.")
        return {}
    lineage: dict[str, list[InputField]] = {}
    count = 0
    for output_field, spec in fields.items():
        here = f"{path}.fields.{output_field}"
        if len(output_field) > FIELD_MAX or not output_field:
            errors.add(here, f"A field name has 1 to {FIELD_MAX} characters.")
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("inputFields"), list):
            errors.add(f"{here}.inputFields", "Must be a list of input fields.")
            continue
        description = spec.get("transformationDescription") or spec.get("transformationType") or ""
        sources = []
        for index, item in enumerate(spec["inputFields"]):
            item_path = f"{here}.inputFields[{index}]"
            if not isinstance(item, dict):
                errors.add(item_path, "Must be an object with namespace, name and field.")
                continue
            namespace = _text(item, "namespace", f"{item_path}.namespace", errors, max_length=NAME_MAX)
            name = _text(item, "name", f"{item_path}.name", errors, max_length=NAME_MAX)
            column = _text(item, "field", f"{item_path}.field", errors, max_length=FIELD_MAX)
            transformation = description
            transformations = item.get("transformations")
            if isinstance(transformations, list) and transformations and isinstance(transformations[0], dict):
                first = transformations[0]
                transformation = " ".join(
                    str(first.get(key)) for key in ("type", "subtype") if isinstance(first.get(key), str)
                ) or description
            if namespace and name and column:
                sources.append(InputField(namespace, name, column, str(transformation)[:FIELD_MAX]))
        count += len(sources)
        if count > MAX_COLUMN_EDGES:
            errors.add(path, f"At most {MAX_COLUMN_EDGES} input fields in all.")
            return {}
        lineage[output_field] = sources
    return lineage


def _datasets(body: dict[str, Any], key: str, errors: _Errors) -> list[DatasetRef]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(key, "Must be a list of datasets.")
        return []
    if len(value) > MAX_DATASETS:
        errors.add(key, f"At most {MAX_DATASETS} datasets.")
        return []
    refs = []
    for index, item in enumerate(value):
        path = f"{key}[{index}]"
        if not isinstance(item, dict):
            errors.add(path, "Must be an object with namespace and name.")
            continue
        namespace = _text(item, "namespace", f"{path}.namespace", errors, max_length=NAME_MAX)
        name = _text(item, "name", f"{path}.name", errors, max_length=NAME_MAX)
        facets = _object(item, "facets", f"{path}.facets", errors, required=False)
        for facet_key in ("inputFacets", "outputFacets"):
            _object(item, facet_key, f"{path}.{facet_key}", errors, required=False)
        lineage = _column_lineage(facets, path, errors) if key == "outputs" else {}
        if namespace and name:
            refs.append(DatasetRef(namespace, name, lineage))
    return refs


def parse_run_event(body: Any) -> ParsedEvent:
    """The event, or ``EventInvalid`` naming each field that is missing or wrong."""
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add("body", "An OpenLineage RunEvent is a JSON object.")
        errors.raise_if_any()
    _storable(body, "", 0, errors)
    errors.raise_if_any()

    event_time = _event_time(body, errors)
    producer = _text(body, "producer", "producer", errors, max_length=URI_MAX)
    schema_url = _text(body, "schemaURL", "schemaURL", errors, max_length=URI_MAX)
    event_type = _event_type(body, errors)
    run = _object(body, "run", "run", errors, required=True)
    run_id = _run_id(run, errors) if "run" in body and isinstance(body["run"], dict) else None
    if isinstance(body.get("run"), dict):
        _object(run, "facets", "run.facets", errors, required=False)
    elif body.get("run") is None:
        errors.add("run.runId", "This field is required.")
    job = _object(body, "job", "job", errors, required=True)
    if isinstance(body.get("job"), dict) or body.get("job") is None:
        job_namespace = _text(job, "namespace", "job.namespace", errors, max_length=NAME_MAX)
        job_name = _text(job, "name", "job.name", errors, max_length=NAME_MAX)
        _object(job, "facets", "job.facets", errors, required=False)
    else:
        job_namespace = job_name = ""
    inputs = _datasets(body, "inputs", errors)
    outputs = _datasets(body, "outputs", errors)
    if len(inputs) * len(outputs) > MAX_EDGES:
        errors.add("outputs", f"At most {MAX_EDGES} input-output pairs in one event: split the job's events.")
    errors.raise_if_any()
    if event_time is None or run_id is None:  # pragma: no cover - the checks above named the field
        raise EventInvalid({"body": ["Not a RunEvent."]})
    return ParsedEvent(
        event_time=event_time, producer=producer, schema_url=schema_url, run_id=run_id, event_type=event_type,
        job_namespace=job_namespace, job_name=job_name, inputs=inputs, outputs=outputs, payload=body,
    )
