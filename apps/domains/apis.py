"""The backends API: list, register, change, test and harvest a domain's backends.

A password is accepted on writes and never returned (``has_password`` says whether one is stored).
A backend the user may not see is a 404; one they see but may not change a 403.
"""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.harvest_selectors import harvest_run_get_for, harvest_run_list_for
from apps.catalog.harvest_services import harvest_request
from apps.catalog.models import HarvestRun
from apps.catalog.selectors import domain_get_for
from apps.catalog.serializers import ErrorSerializer
from apps.core.parsers import SafeJSONParser
from apps.domains.models import Backend
from apps.domains.permissions import ensure_can_edit
from apps.domains.selectors import backend_get_for, backend_list_for
from apps.domains.services import backend_check, backend_delete, backend_register, backend_update

READ_ERRORS = {401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
WRITE_ERRORS = {400: ErrorSerializer, **READ_ERRORS, 413: ErrorSerializer, 415: ErrorSerializer}
TAGS = ["backends"]


def _password_field(help_text: str) -> serializers.CharField:
    return serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=1000,
        style={"input_type": "password"}, help_text=help_text,
    )  # fmt: skip


class BackendSerializer(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    address = serializers.SerializerMethodField(help_text="<domain>.<backend>, the start of its dataset addresses.")
    has_password = serializers.BooleanField(read_only=True, help_text="Whether an (encrypted) password is stored.")

    class Meta:
        model = Backend
        fields = [
            "id", "domain", "slug", "address", "kind", "url", "has_password", "health", "health_message",
            "health_checked_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_address(self, backend: Backend) -> str:
        return f"{backend.domain.slug}.{backend.slug}"


class BackendCreateSerializer(serializers.Serializer):
    domain = serializers.SlugField(max_length=63, help_text="Slug of the domain that registers the backend.")
    slug = serializers.CharField(max_length=63)
    kind = serializers.ChoiceField(choices=Backend.Kind.choices)
    url = serializers.CharField(max_length=1000, help_text="Connection URL, or absolute path for file kinds.")
    password = _password_field("Stored encrypted, never returned. A password inside the URL is moved here.")


class BackendUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=1000, required=False)
    password = _password_field("A new password; omit it to keep the stored one.")
    clear_password = serializers.BooleanField(required=False, default=False)


class BackendFilterSerializer(serializers.Serializer):
    domain = serializers.SlugField(required=False, max_length=63, help_text="Only this domain's backends.")


class HarvestRunSerializer(serializers.ModelSerializer):
    backend = serializers.PrimaryKeyRelatedField(read_only=True)
    backend_address = serializers.SerializerMethodField()
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    report = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        read_only=True, help_text="Names added, changed and removed (datasets and columns), and warnings.",
    )  # fmt: skip

    class Meta:
        model = HarvestRun
        fields = [
            "id", "backend", "backend_address", "requested_by", "status", "progress", "phase", "report",
            "message", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_backend_address(self, run: HarvestRun) -> str:
        return str(run.backend)


def _parsed(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class BackendListApi(generics.ListAPIView):
    serializer_class = BackendSerializer
    pagination_class = _Pagination
    parser_classes = [SafeJSONParser]
    queryset = Backend.objects.none()

    def get_queryset(self) -> QuerySet[Backend]:
        filters = BackendFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return backend_list_for(user=self.request.user, domain_slug=filters.validated_data.get("domain"))

    @extend_schema(
        tags=TAGS, summary="The backends of the domains you can see",
        parameters=[BackendFilterSerializer], responses={200: BackendSerializer, **READ_ERRORS},
    )  # fmt: skip
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS, summary="Register a backend (domain owners and admins); the connection is tested first",
        request=BackendCreateSerializer, responses={201: BackendSerializer, **WRITE_ERRORS},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        fields = _parsed(BackendCreateSerializer, request)
        domain = domain_get_for(user=request.user, slug=fields.pop("domain"))
        ensure_can_edit(request.user, domain)
        backend = backend_register(actor=request.user, domain=domain, **fields)
        return Response(BackendSerializer(backend).data, status=201)


class BackendDetailApi(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(tags=TAGS, summary="One backend", responses={200: BackendSerializer, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(BackendSerializer(backend_get_for(user=request.user, pk=pk)).data)

    @extend_schema(
        tags=TAGS, summary="Change a backend's URL or password (tested before it is saved)",
        request=BackendUpdateSerializer, responses={200: BackendSerializer, **WRITE_ERRORS},
    )  # fmt: skip
    def patch(self, request: Request, pk: int) -> Response:
        backend = backend_get_for(user=request.user, pk=pk)
        ensure_can_edit(request.user, backend)
        fields = _parsed(BackendUpdateSerializer, request)
        updated = backend_update(
            actor=request.user, backend=backend, url=fields.get("url"), password=fields.get("password") or None,
            clear_password=fields.get("clear_password", False),
        )  # fmt: skip
        return Response(BackendSerializer(updated).data)

    @extend_schema(tags=TAGS, summary="Remove a backend (its datasets stay)", responses={204: None, **READ_ERRORS})
    def delete(self, request: Request, pk: int) -> Response:
        backend_delete(actor=request.user, backend=backend_get_for(user=request.user, pk=pk))
        return Response(status=204)


class BackendTestConnectionApi(APIView):
    @extend_schema(
        tags=TAGS, summary="Test the connection and record the backend's health",
        request=None, responses={200: BackendSerializer, **READ_ERRORS},
    )  # fmt: skip
    def post(self, request: Request, pk: int) -> Response:
        backend = backend_check(actor=request.user, backend=backend_get_for(user=request.user, pk=pk))
        return Response(BackendSerializer(backend).data)


class BackendHarvestApi(APIView):
    @extend_schema(
        tags=TAGS, summary="Start a harvest of the backend (a queued run; poll the run for progress)",
        request=None, responses={202: HarvestRunSerializer, **READ_ERRORS},
    )  # fmt: skip
    def post(self, request: Request, pk: int) -> Response:
        run = harvest_request(actor=request.user, backend=backend_get_for(user=request.user, pk=pk))
        return Response(HarvestRunSerializer(run).data, status=202)


@extend_schema(
    tags=TAGS,
    summary="The harvest runs of a backend, newest first",
    responses={200: HarvestRunSerializer, **READ_ERRORS},
)
class BackendHarvestRunsApi(generics.ListAPIView):
    serializer_class = HarvestRunSerializer
    pagination_class = _Pagination
    queryset = HarvestRun.objects.none()

    def get_queryset(self) -> QuerySet[HarvestRun]:
        backend = backend_get_for(user=self.request.user, pk=self.kwargs["pk"])
        return harvest_run_list_for(user=self.request.user, backend=backend)


class HarvestRunDetailApi(APIView):
    @extend_schema(
        tags=TAGS, summary="One harvest run: status, progress, phase and report",
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH)],
        responses={200: HarvestRunSerializer, **READ_ERRORS},
    )  # fmt: skip
    def get(self, request: Request, pk: int) -> Response:
        return Response(HarvestRunSerializer(harvest_run_get_for(user=request.user, pk=pk)).data)
