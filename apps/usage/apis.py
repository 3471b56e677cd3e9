"""Usage API: the audit trail (admins; owners for their domains) and the KPIs of a domain, a data
product or a dataset (their owners and admins). Everyone else gets a 404."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.serializers import ErrorSerializer
from apps.usage.kpis import PERIODS, Kpis, dataset_scope_for, domain_scope_for, kpis_for, period_days, product_scope_for
from apps.usage.models import AuditEvent
from apps.usage.selectors import AuditFilters, audit_page_for

ERRORS = {401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
DAYS = OpenApiParameter("days", int, enum=list(PERIODS), description="The period in days (default 90).")


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id", "occurred_at", "actor", "action", "object_type", "object_id", "object_repr", "outcome",
            "request_id", "details",
        ]  # fmt: skip

    def get_actor(self, event: AuditEvent) -> str | None:
        return event.actor.username if event.actor else None


class AuditPageSerializer(serializers.Serializer):
    results = AuditEventSerializer(many=True, source="rows")
    next_before = serializers.IntegerField(allow_null=True, help_text="Pass as `before` for the next (older) page.")


class AuditListApi(APIView):
    @extend_schema(
        tags=["usage"], summary="The audit trail, newest first (admins; domain owners see their domains' rows)",
        parameters=[
            OpenApiParameter("actor", str, description="Username."),
            OpenApiParameter("action", str, description="An action, or its prefix before a dot (e.g. `query`)."),
            OpenApiParameter("outcome", str, enum=list(AuditEvent.Outcome.values)),
            OpenApiParameter("object", str, description="Text in the object's name, or its type."),
            OpenApiParameter("since", str, description="First day (YYYY-MM-DD, UTC)."),
            OpenApiParameter("until", str, description="Last day (YYYY-MM-DD, UTC)."),
            OpenApiParameter("before", int, description="Only rows with a smaller id (paging)."),
        ],
        responses={200: AuditPageSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = audit_page_for(user=request.user, filters=AuditFilters.parse(request.query_params))
        return Response(AuditPageSerializer(page).data)


class TotalsSerializer(serializers.Serializer):
    views = serializers.IntegerField()
    users = serializers.IntegerField()
    queries = serializers.IntegerField()
    synth_jobs = serializers.IntegerField()
    downloads = serializers.IntegerField()
    epsilon = serializers.DecimalField(max_digits=30, decimal_places=10, coerce_to_string=True)


class ConsumersSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    active = serializers.IntegerField()
    inactive = serializers.IntegerField()


class TrendSerializer(TotalsSerializer):
    """The totals of one day."""

    day = serializers.DateField()


class ConsumingDomainSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    users = serializers.IntegerField()
    events = serializers.IntegerField()


class TopDatasetSerializer(serializers.Serializer):
    address = serializers.CharField(source="dataset.address")
    views = serializers.IntegerField()
    users = serializers.IntegerField()
    queries = serializers.IntegerField()
    synth_jobs = serializers.IntegerField()
    downloads = serializers.IntegerField()
    events = serializers.IntegerField()


class KpisSerializer(serializers.Serializer):
    scope = serializers.CharField(source="scope.kind")
    name = serializers.CharField(source="scope.slug")
    days = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    totals = TotalsSerializer()
    consumers = ConsumersSerializer()
    bucket = serializers.CharField()
    trend = TrendSerializer(many=True)
    consuming_domains = ConsumingDomainSerializer(many=True, source="domains")
    top_datasets = TopDatasetSerializer(many=True)
    stale_datasets = serializers.SerializerMethodField()

    def get_stale_datasets(self, kpis: Kpis) -> list[str]:
        stale = [d.address for d, _ in kpis.stale]
        if kpis.freshness is not None and kpis.freshness.is_stale and kpis.scope.dataset is not None:
            stale.append(kpis.scope.dataset.address)
        return stale


def _kpis(request: Request, scope: Any) -> Response:
    return Response(KpisSerializer(kpis_for(scope, days=period_days(request.query_params.get("days")))).data)


class DomainKpisApi(APIView):
    @extend_schema(tags=["usage"], summary="Usage KPIs of a domain (owners and admins)", parameters=[DAYS],
                   responses={200: KpisSerializer, **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        return _kpis(request, domain_scope_for(user=request.user, slug=slug))


class ProductKpisApi(APIView):
    @extend_schema(tags=["usage"], summary="Usage KPIs of a data product (its owners, the domain's, admins)",
                   parameters=[DAYS], responses={200: KpisSerializer, **ERRORS})
    def get(self, request: Request, slug: str, product: str) -> Response:
        return _kpis(request, product_scope_for(user=request.user, domain_slug=slug, slug=product))


class DatasetKpisApi(APIView):
    @extend_schema(tags=["usage"], summary="Usage KPIs of a dataset (owners and admins)", parameters=[DAYS],
                   responses={200: KpisSerializer, **ERRORS})
    def get(self, request: Request, address: str) -> Response:
        return _kpis(request, dataset_scope_for(user=request.user, address=address))
