"""The lineage API: ``POST /api/v1/lineage`` takes OpenLineage RunEvents; ``GET /api/v1/lineage/graph/``
answers the graph around a dataset. Interfaces only: parse, call one service or selector, render."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.models import Dataset
from apps.catalog.serializers import ErrorSerializer
from apps.core.parsers import SafeJSONParser
from apps.lineage import services
from apps.lineage.openlineage import DatasetRef
from apps.lineage.selectors import GraphOptions, lineage_graph_for
from apps.lineage.serializers import GraphQuerySerializer, GraphSerializer, IngestResultSerializer

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}

EXAMPLE = OpenApiExample(
    "A job that read orders and wrote regional sales",
    value={
        "eventType": "COMPLETE",
        "eventTime": "2025-06-01T10:00:00.000Z",
        "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f"},
        "job": {"namespace": "marketing-jobs", "name": "build_regional_sales"},
        "inputs": [{"namespace": "portal", "name": "sales.shop.orders"}],
        "outputs": [{"namespace": "portal", "name": "marketing.campaigns.regional_sales"}],
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
    },
    request_only=True,
)


class _Api(APIView):
    # Token first: an anonymous request is answered 401 with ``WWW-Authenticate: Token``.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    parser_classes = [SafeJSONParser]


def _matches(refs: list[DatasetRef], found: list[Dataset | None]) -> list[dict[str, Any]]:
    # ``found`` holds only datasets the poster may see (the service resolves the others to None).
    return [
        {"namespace": ref.namespace, "name": ref.name, "dataset": dataset.address if dataset is not None else None}
        for ref, dataset in zip(refs, found, strict=True)
    ]


class LineageIngestApi(_Api):
    @extend_schema(
        tags=["lineage"],
        summary="Record an OpenLineage RunEvent (spec 2-0-2)",
        description=(
            "Admins may post any event; domain and product owners an event whose every output is a catalog "
            "dataset they may edit. Datasets are matched by `namespace` `portal` and their catalog address as "
            "`name`, or by their backend's address (see the README). Unknown inputs become external placeholders. "
            "201 when stored; 200 when you stored this (run id, event type) before: nothing new is recorded. "
            "Replays are matched per poster: another poster's event with the same run id is never one."
        ),
        request=OpenApiTypes.OBJECT,
        responses={
            201: IngestResultSerializer,
            200: OpenApiResponse(IngestResultSerializer, description="A replay: nothing new was recorded."),
            413: ErrorSerializer,
            415: ErrorSerializer,
            **ERRORS,
        },
        examples=[EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        try:
            body = request.data
        except exceptions.APIException as exc:
            services.lineage_ingest_refused(actor=request.user, request_id=request.request_id, reason=str(exc.detail))
            raise
        result = services.lineage_event_ingest(actor=request.user, body=body, request_id=request.request_id)
        event = result.event
        answer = {
            "run_id": event.run_id,
            "event_type": event.event_type,
            "job": str(event.job),
            "created": result.created,
            "inputs": _matches(result.parsed.inputs, result.inputs),
            "outputs": _matches(result.parsed.outputs, result.outputs),
        }
        return Response(IngestResultSerializer(answer).data, status=201 if result.created else 200)


class LineageGraphApi(_Api):
    @extend_schema(
        tags=["lineage"],
        summary="The lineage graph around a dataset, as you may see it",
        description=(
            "One hop up and down by default. Datasets in domains you cannot see appear as anonymous "
            "`hidden` nodes (no name, no job); the walk does not continue through them."
        ),
        parameters=[
            OpenApiParameter("dataset", str, description="Catalog address of the center dataset."),
            OpenApiParameter("node", str, description="Or an external node's id (x<number>)."),
            OpenApiParameter("up", int, description="Hops upstream, 0 to 5 (default 1)."),
            OpenApiParameter("down", int, description="Hops downstream, 0 to 5 (default 1)."),
            OpenApiParameter("domain", str, description="Only datasets of this domain (slug)."),
            OpenApiParameter("tag", str, description="Only datasets with this tag."),
            OpenApiParameter("columns", bool, description="Include column-level edges."),
        ],
        responses={200: GraphSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = GraphQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        options = GraphOptions(up=params["up"], down=params["down"], domain=params["domain"], tag=params["tag"],
                               columns=params["columns"])
        graph = lineage_graph_for(user=request.user, address=params.get("dataset"), node=params.get("node"),
                                  options=options)
        return Response(GraphSerializer(graph.as_json()).data)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # One audit row per read of a dataset's lineage, or per denial (a 404 says nothing more).
        response = super().dispatch(request, *args, **kwargs)
        if request.method == "GET" and response.status_code in (200, 404):
            services.lineage_read_audit(
                actor=request.user, address=request.GET.get("dataset", "")[:300], found=response.status_code == 200,
                request_id=getattr(request, "request_id", ""),
            )
        return response
