"""The DP query API: preview, submit, history, one job, cancel, CSV download.
Interfaces only: parse, call one selector or service, render."""

import re
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.selectors import dataset_get_for
from apps.catalog.serializers import ErrorSerializer
from apps.core.parsers import SafeJSONParser
from apps.queries import services
from apps.queries.models import QueryJob
from apps.queries.selectors import query_job_get_for, query_job_list_for
from apps.queries.serializers import QueryJobSerializer, QueryPreviewSerializer, QueryRequestSerializer

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
EXAMPLE = OpenApiExample(
    "Grouped count and average",
    value={
        "dataset": "hr.census.adult",
        "sql": "SELECT sex, COUNT(*), AVG(age) FROM adult GROUP BY sex",
        "mechanism": "laplace",
        "epsilon": "0.5",
    },
    request_only=True,
)


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class _Api(APIView):
    parser_classes = [SafeJSONParser]


def _query_arguments(request: Request) -> dict[str, Any]:
    if request.stream is None:
        raise ParseError("The request body is empty: send a JSON object.")
    serializer = QueryRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    fields = dict(serializer.validated_data)
    dataset = dataset_get_for(user=request.user, address=fields.pop("dataset"))
    return {
        "dataset": dataset,
        "sql": fields["sql"],
        "mechanism": fields["mechanism"],
        **{name: fields.get(name) for name in ("epsilon", "rho", "delta")},
    }


class QueryPreviewApi(_Api):
    @extend_schema(
        tags=["queries"],
        summary="What a DP query would cost and how accurate it would be; charges nothing",
        request=QueryRequestSerializer,
        responses={200: QueryPreviewSerializer, **ERRORS},
        examples=[EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        preview = services.query_preview(user=request.user, **_query_arguments(request))
        return Response(QueryPreviewSerializer(preview).data)


class QueryListApi(generics.ListAPIView, _Api):
    serializer_class = QueryJobSerializer
    pagination_class = Pagination
    queryset = QueryJob.objects.none()

    def get_queryset(self) -> QuerySet[QueryJob]:
        return query_job_list_for(user=self.request.user)

    @extend_schema(
        tags=["queries"], summary="Your DP queries, newest first", responses={200: QueryJobSerializer(many=True)}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["queries"],
        summary="Submit a DP query: its cost is reserved and a worker runs it",
        description=(
            "201 with the queued job. When you asked exactly this before (same normalized SQL, mechanism, "
            "amounts and dataset version), 200 with a job that carries the stored answer: memoized, cost 0."
        ),
        request=QueryRequestSerializer,
        responses={
            201: QueryJobSerializer,
            200: OpenApiResponse(QueryJobSerializer, description="Memoized: the earlier answer, free."),
            **ERRORS,
        },
        examples=[EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        job = services.query_submit(actor=request.user, request_id=request.request_id, **_query_arguments(request))
        job = query_job_get_for(user=request.user, pk=job.pk)
        return Response(QueryJobSerializer(job).data, status=200 if job.memo_source_id else 201)


class QueryDetailApi(_Api):
    @extend_schema(tags=["queries"], summary="One of your DP queries", responses={200: QueryJobSerializer, **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(QueryJobSerializer(query_job_get_for(user=request.user, pk=pk)).data)


class QueryCancelApi(_Api):
    @extend_schema(
        tags=["queries"],
        summary="Cancel a queued query (its reservation is released); a running one is refused (409)",
        request=None,
        responses={200: QueryJobSerializer, 409: ErrorSerializer, **ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        job = query_job_get_for(user=request.user, pk=pk)
        services.query_cancel(actor=request.user, job=job, request_id=request.request_id)
        return Response(QueryJobSerializer(query_job_get_for(user=request.user, pk=pk)).data)


class CsvRenderer(BaseRenderer):
    """Lets a client ask for ``text/csv``; refusals then come as their plain message."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, dict):
            data = data.get("message", "")
        return str(data).encode(self.charset)


def _filename(job: QueryJob) -> str:
    return "query-{}-{}.csv".format(job.pk, re.sub(r"[^A-Za-z0-9_-]+", "-", job.dataset.address).strip("-")[:80])


class QueryResultCsvApi(_Api):
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        tags=["queries"],
        summary="A finished query's noisy answer as a CSV attachment",
        responses={(200, "text/csv"): OpenApiTypes.STR, 409: ErrorSerializer, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        job = query_job_get_for(user=request.user, pk=pk)
        text = services.query_result_download(actor=request.user, job=job, request_id=request.request_id)
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{_filename(job)}"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
