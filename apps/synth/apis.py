"""The synthetic-data API: synthesizers, cost preview, submit, list, one job, cancel, downloads, and
the owner-funded preview of a dataset. Interfaces only: parse, call one selector or service, render."""

import re
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.serializers import ErrorSerializer
from apps.core.parsers import SafeJSONParser
from apps.synth import services
from apps.synth.models import SynthJob
from apps.synth.selectors import (
    dataset_for,
    synth_job_get_for,
    synth_job_list_for,
    synth_preview_for,
    synth_preview_pending,
    synth_preview_sample,
)
from apps.synth.serializers import (
    DatasetPreviewSerializer,
    PreviewRequestSerializer,
    SynthesizerSerializer,
    SynthJobOwnerSerializer,
    SynthJobSerializer,
    SynthPreviewSerializer,
    SynthRequestSerializer,
)

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
EXAMPLE = OpenApiExample(
    "1,000 rows of three census columns with MST",
    value={"dataset": "hr.census.adult", "synthesizer": "mst", "columns": ["age", "sex", "salary"],
           "epsilon": "1", "rows": 1000},
    request_only=True,
)  # fmt: skip


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class _Api(APIView):
    parser_classes = [SafeJSONParser]


def _body(request: Request, serializer_class: type) -> dict[str, Any]:
    if request.stream is None:
        raise ParseError("The request body is empty: send a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _arguments(request: Request) -> dict[str, Any]:
    fields = _body(request, SynthRequestSerializer)
    return {
        "dataset": dataset_for(user=request.user, address=fields.pop("dataset")),
        "synthesizer": fields.get("synthesizer"),
        "columns": fields.get("columns"),
        "epsilon": fields["epsilon"],
        "delta": fields.get("delta"),
        "rows": fields["rows"],
    }


def _job_data(request: Request, job: SynthJob) -> dict[str, Any]:
    if services.can_see_utility(request.user, job):
        return SynthJobOwnerSerializer(job).data
    return SynthJobSerializer(job).data


class SynthesizerListApi(_Api):
    @extend_schema(
        tags=["synth"],
        summary="The synthesizers offered, and those not offered with the reason",
        responses={200: SynthesizerSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        engine = services.engine()
        rows = [
            {
                "name": info.name,
                "label": info.label,
                "description": info.description,
                "privacy_note": info.privacy_note,
                "offered": True,
                "default": info.name == engine.DEFAULT_SYNTHESIZER,
            }
            for info in engine.SYNTHESIZERS.values()
        ]
        rows += [
            {"name": name, "label": name.upper(), "description": "", "privacy_note": reason, "offered": False,
             "default": False}
            for name, reason in engine.NOT_OFFERED.items()
        ]  # fmt: skip
        return Response(SynthesizerSerializer(rows, many=True).data)


class SynthCostApi(_Api):
    @extend_schema(
        tags=["synth"],
        summary="What a synthetic-data job would cost and whether it would be granted; charges nothing",
        request=SynthRequestSerializer,
        responses={200: SynthPreviewSerializer, **ERRORS},
        examples=[EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        preview = services.synth_preview_cost(user=request.user, **_arguments(request))
        return Response(SynthPreviewSerializer(preview).data)


class SynthJobListApi(generics.ListAPIView, _Api):
    serializer_class = SynthJobSerializer
    pagination_class = Pagination
    queryset = SynthJob.objects.none()

    def get_queryset(self) -> QuerySet[SynthJob]:
        return synth_job_list_for(user=self.request.user)

    @extend_schema(
        tags=["synth"], summary="Your synthetic-data jobs, newest first", responses={200: SynthJobSerializer(many=True)}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["synth"],
        summary="Submit a synthetic-data job: its cost is reserved and a worker makes the sample",
        request=SynthRequestSerializer,
        responses={201: SynthJobSerializer, **ERRORS},
        examples=[EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        job = services.synth_submit(actor=request.user, request_id=request.request_id, **_arguments(request))
        job = synth_job_get_for(user=request.user, pk=job.pk)
        return Response(_job_data(request, job), status=201)


class SynthJobDetailApi(_Api):
    @extend_schema(
        tags=["synth"],
        summary="One synthetic-data job: progress, parameters, cost (and for owners the utility report)",
        responses={200: SynthJobOwnerSerializer, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_job_data(request, synth_job_get_for(user=request.user, pk=pk)))


class SynthJobCancelApi(_Api):
    @extend_schema(
        tags=["synth"],
        summary="Cancel a job: a queued one is released; a running one stops and stays charged",
        request=None,
        responses={200: SynthJobSerializer, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        job = synth_job_get_for(user=request.user, pk=pk)
        services.synth_cancel(actor=request.user, job=job, request_id=request.request_id)
        return Response(_job_data(request, synth_job_get_for(user=request.user, pk=pk)))


class _FileRenderer(BaseRenderer):
    """Lets a client ask for the file's type; refusals then come as their plain message."""

    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, dict):
            data = data.get("message", "")
        return str(data).encode("utf-8")


class CsvRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


class ParquetRenderer(_FileRenderer):
    media_type = "application/vnd.apache.parquet"
    format = "parquet"


def filename(job: SynthJob, extension: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", job.dataset.address).strip("-")[:80]
    return f"synthetic-{job.pk}-{slug}.{extension}"


def sample_response(job: SynthJob, fmt: str, content: Any) -> HttpResponse:
    """The sample as an attachment (never shown inline, never cached)."""
    if fmt == "csv":
        response: HttpResponse = StreamingHttpResponse(content(), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(content(), content_type="application/vnd.apache.parquet")
    response["Content-Disposition"] = f'attachment; filename="{filename(job, fmt)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


class SynthSampleCsvApi(_Api):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        tags=["synth"],
        summary="A finished sample as a CSV attachment (cells starting with = + - @ escaped)",
        responses={(200, "text/csv"): OpenApiTypes.STR, 409: ErrorSerializer, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        job = synth_job_get_for(user=request.user, pk=pk)
        content = services.synth_sample_download(actor=request.user, job=job, fmt="csv", request_id=request.request_id)
        return sample_response(job, "csv", content)


class SynthSampleParquetApi(_Api):
    renderer_classes = [JSONRenderer, ParquetRenderer]

    @extend_schema(
        tags=["synth"],
        summary="A finished sample as a Parquet attachment",
        responses={(200, "application/vnd.apache.parquet"): OpenApiTypes.BINARY, 409: ErrorSerializer, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        job = synth_job_get_for(user=request.user, pk=pk)
        content = services.synth_sample_download(
            actor=request.user, job=job, fmt="parquet", request_id=request.request_id
        )
        return sample_response(job, "parquet", content)


def dataset_preview_data(user: Any, dataset: Any) -> dict[str, Any]:
    job = synth_preview_for(user=user, dataset=dataset)
    pending = synth_preview_pending(dataset=dataset)
    sample = synth_preview_sample(job) if job else {"columns": [], "rows": []}
    return {
        "dataset": dataset.address,
        "job": job.pk if job else None,
        "made_at": job.finished_at if job else None,
        "epsilon": job.epsilon if job else None,
        "histograms": (job.profile or {}) if job else {},
        "columns": sample["columns"],
        "rows": [[_plain(value) for value in row] for row in sample["rows"]],
        "pending": pending.pk if pending else None,
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


class DatasetPreviewApi(_Api):
    @extend_schema(
        tags=["synth"],
        summary="The DP preview of a confidential dataset (noisy histograms and a small sample), free to see",
        responses={200: DatasetPreviewSerializer, **ERRORS},
    )
    def get(self, request: Request, address: str) -> Response:
        dataset = dataset_for(user=request.user, address=address)
        return Response(DatasetPreviewSerializer(dataset_preview_data(request.user, dataset)).data)

    @extend_schema(
        tags=["synth"],
        summary="Owners: make a fresh preview, paid from the dataset-wide budget",
        request=PreviewRequestSerializer,
        responses={202: SynthJobSerializer, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request, address: str) -> Response:
        dataset = dataset_for(user=request.user, address=address)
        fields = _body(request, PreviewRequestSerializer) if request.stream is not None else {}
        job = services.synth_preview_refresh(
            actor=request.user, dataset=dataset, epsilon=fields.get("epsilon"), request_id=request.request_id
        )
        return Response(SynthJobSerializer(synth_job_get_for(user=request.user, pk=job.pk)).data, status=202)

