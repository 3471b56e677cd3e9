"""The catalog's REST API: interfaces that parse, call one selector or service, and render.

Reading needs a signed-in user (session or ``Authorization: Token <key>``). An object the user may
not see is a 404, one they see but may not change a 403 (the one permission check decides).
"""

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from apps.catalog.dcat import DcatUrls, catalog_jsonld
from apps.catalog.models import Column, DataProduct, Dataset
from apps.catalog.selectors import (
    column_get_for,
    dataset_get_for,
    dataset_list_for,
    domain_get_for,
    domain_list_for,
    product_get_for,
    product_list_for,
)
from apps.catalog.serializers import (
    ColumnSerializer,
    ColumnUpdateSerializer,
    DatasetDetailSerializer,
    DatasetFilterSerializer,
    DatasetSerializer,
    DatasetUpdateSerializer,
    DomainSerializer,
    DomainUpdateSerializer,
    ErrorSerializer,
    ProductCreateSerializer,
    ProductFilterSerializer,
    ProductSerializer,
    ProductUpdateSerializer,
)
from apps.catalog.services import column_update, dataset_update, domain_update, product_create, product_update
from apps.core.parsers import SafeJSONParser
from apps.domains.models import Domain
from apps.domains.permissions import ensure_can_edit
from apps.usage.access import audited_dataset_access

ADDRESS = OpenApiParameter("address", str, OpenApiParameter.PATH, description="Dataset address, e.g. hr.census.adult")
COLUMN = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Column name.")
READ_ERRORS = {401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
LIST_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer}
WRITE_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer,
                413: ErrorSerializer, 415: ErrorSerializer}


class CatalogPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


def _parsed(serializer_class: type[Serializer], request: Request, **context: Any) -> dict[str, Any]:
    if request.stream is None:
        raise ParseError("The request body is empty: send a JSON object.")
    serializer = serializer_class(data=request.data, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _ensure_editable(request: Request, obj: Any) -> None:
    """Refuse before reading the body: a 403 says the same thing whatever the body was."""
    ensure_can_edit(request.user, obj)


class _WriteApi(APIView):
    parser_classes = [SafeJSONParser]


# --- domains ---------------------------------------------------------------------------------


@extend_schema(tags=["catalog"], summary="The domains you can see", responses={200: DomainSerializer, **LIST_ERRORS})
class DomainListApi(generics.ListAPIView):
    serializer_class = DomainSerializer
    pagination_class = CatalogPagination
    queryset = Domain.objects.none()

    def get_queryset(self) -> QuerySet[Domain]:
        return domain_list_for(user=self.request.user).prefetch_related("owners", "visible_to_groups")


class DomainDetailApi(_WriteApi):
    @extend_schema(tags=["catalog"], summary="One domain", responses={200: DomainSerializer, **READ_ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        return Response(DomainSerializer(domain_get_for(user=request.user, slug=slug)).data)

    @extend_schema(
        tags=["catalog"], summary="Change a domain (owners and admins)",
        request=DomainUpdateSerializer, responses={200: DomainSerializer, **WRITE_ERRORS},
    )
    def patch(self, request: Request, slug: str) -> Response:
        domain = domain_get_for(user=request.user, slug=slug)
        _ensure_editable(request, domain)
        changes = _parsed(DomainUpdateSerializer, request)
        domain = domain_update(actor=request.user, domain=domain, request_id=request.request_id, **changes)
        return Response(DomainSerializer(domain).data)


# --- products --------------------------------------------------------------------------------


def _visible_datasets(user: Any) -> Prefetch:
    """A product's datasets as ``visible_datasets``: only those ``user`` may see (no hidden samples)."""
    return Prefetch("datasets", queryset=dataset_list_for(user=user).order_by(), to_attr="visible_datasets")


@extend_schema(
    tags=["catalog"], summary="The data products you can see",
    parameters=[ProductFilterSerializer], responses={200: ProductSerializer, **LIST_ERRORS},
)
class ProductListApi(generics.ListAPIView):
    serializer_class = ProductSerializer
    pagination_class = CatalogPagination
    queryset = DataProduct.objects.none()

    def get_queryset(self) -> QuerySet[DataProduct]:
        filters = ProductFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        products = product_list_for(user=self.request.user).prefetch_related(_visible_datasets(self.request.user))
        if "domain" in filters.validated_data:
            products = products.filter(domain__slug=filters.validated_data["domain"])
        return products


class DomainProductsApi(generics.ListAPIView):
    serializer_class = ProductSerializer
    pagination_class = CatalogPagination
    parser_classes = [SafeJSONParser]
    queryset = DataProduct.objects.none()

    def get_queryset(self) -> QuerySet[DataProduct]:
        domain = domain_get_for(user=self.request.user, slug=self.kwargs["slug"])
        return product_list_for(user=self.request.user).filter(domain=domain).prefetch_related(
            _visible_datasets(self.request.user)
        )

    @extend_schema(tags=["catalog"], summary="The products of one domain", responses={200: ProductSerializer,
                                                                                     **READ_ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["catalog"], summary="Create a product in a domain (owners and admins)",
        request=ProductCreateSerializer, responses={201: ProductSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request, slug: str) -> Response:
        domain = domain_get_for(user=request.user, slug=slug)
        _ensure_editable(request, domain)
        fields = _parsed(ProductCreateSerializer, request)
        product = product_create(actor=request.user, domain=domain, request_id=request.request_id, **fields)
        return Response(ProductSerializer(product, context={"user": request.user}).data, status=201)


class ProductDetailApi(_WriteApi):
    @extend_schema(tags=["catalog"], summary="One data product", responses={200: ProductSerializer, **READ_ERRORS})
    def get(self, request: Request, slug: str, product: str) -> Response:
        found = product_get_for(user=request.user, domain_slug=slug, slug=product)
        return Response(ProductSerializer(found, context={"user": request.user}).data)

    @extend_schema(
        tags=["catalog"], summary="Change a data product (owners and admins)",
        request=ProductUpdateSerializer, responses={200: ProductSerializer, **WRITE_ERRORS},
    )
    def patch(self, request: Request, slug: str, product: str) -> Response:
        found = product_get_for(user=request.user, domain_slug=slug, slug=product)
        _ensure_editable(request, found)
        changes = _parsed(ProductUpdateSerializer, request)
        updated = product_update(actor=request.user, product=found, request_id=request.request_id, **changes)
        return Response(ProductSerializer(updated, context={"user": request.user}).data)


# --- datasets and columns --------------------------------------------------------------------


@extend_schema(
    tags=["catalog"], summary="The datasets you can see (without their columns)",
    parameters=[DatasetFilterSerializer], responses={200: DatasetSerializer, **LIST_ERRORS},
)
class DatasetListApi(generics.ListAPIView):
    serializer_class = DatasetSerializer
    pagination_class = CatalogPagination
    queryset = Dataset.objects.none()

    def get_queryset(self) -> QuerySet[Dataset]:
        filters = DatasetFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        datasets = dataset_list_for(user=self.request.user).prefetch_related(
            "tags", "domain__owners", "product__owners"
        )
        if "domain" in wanted:
            datasets = datasets.filter(domain__slug=wanted["domain"])
        if "product" in wanted:
            datasets = datasets.filter(product__slug=wanted["product"])
        if "sensitivity" in wanted:
            datasets = datasets.filter(sensitivity=wanted["sensitivity"])
        if "tag" in wanted:
            datasets = datasets.filter(tags__name=wanted["tag"])
        return datasets.order_by("address")


class DatasetDetailApi(_WriteApi):
    @extend_schema(
        tags=["catalog"], summary="One dataset with its columns", parameters=[ADDRESS],
        responses={200: DatasetDetailSerializer, **READ_ERRORS},
    )
    @audited_dataset_access("dataset.api_read")
    def get(self, request: Request, address: str) -> Response:
        return Response(DatasetDetailSerializer(dataset_get_for(user=request.user, address=address)).data)

    @extend_schema(
        tags=["catalog"], summary="Change a dataset (owners and admins)", parameters=[ADDRESS],
        request=DatasetUpdateSerializer, responses={200: DatasetDetailSerializer, **WRITE_ERRORS},
    )
    def patch(self, request: Request, address: str) -> Response:
        dataset = dataset_get_for(user=request.user, address=address)
        _ensure_editable(request, dataset)
        changes = _parsed(DatasetUpdateSerializer, request, user=request.user, dataset=dataset)
        dataset_update(actor=request.user, dataset=dataset, request_id=request.request_id, **changes)
        return Response(DatasetDetailSerializer(dataset_get_for(user=request.user, address=address)).data)


@extend_schema(
    tags=["catalog"], summary="The current columns of a dataset", parameters=[ADDRESS],
    responses={200: ColumnSerializer, **READ_ERRORS},
)
class ColumnListApi(generics.ListAPIView):
    serializer_class = ColumnSerializer
    pagination_class = CatalogPagination
    queryset = Column.objects.none()

    def get_queryset(self) -> list[Column]:
        return dataset_get_for(user=self.request.user, address=self.kwargs["address"]).current_columns

    @audited_dataset_access("dataset.api_read")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ColumnDetailApi(_WriteApi):
    @extend_schema(
        tags=["catalog"], summary="One column", parameters=[ADDRESS, COLUMN],
        responses={200: ColumnSerializer, **READ_ERRORS},
    )
    @audited_dataset_access("dataset.api_read")
    def get(self, request: Request, address: str, name: str) -> Response:
        return Response(ColumnSerializer(column_get_for(user=request.user, dataset_address=address, name=name)).data)

    @extend_schema(
        tags=["catalog"], summary="Change a column's description, classification and DP metadata",
        parameters=[ADDRESS, COLUMN], request=ColumnUpdateSerializer,
        responses={200: ColumnSerializer, **WRITE_ERRORS},
    )
    def patch(self, request: Request, address: str, name: str) -> Response:
        column = column_get_for(user=request.user, dataset_address=address, name=name)
        _ensure_editable(request, column)
        changes = _parsed(ColumnUpdateSerializer, request)
        column = column_update(actor=request.user, column=column, request_id=request.request_id, **changes)
        return Response(ColumnSerializer(column).data)


# --- DCAT-AP ---------------------------------------------------------------------------------


class JSONLDRenderer(JSONRenderer):
    media_type = "application/ld+json"
    format = "jsonld"


class DcatCatalogApi(APIView):
    renderer_classes = [JSONLDRenderer, JSONRenderer]

    @extend_schema(
        tags=["catalog"], summary="The catalog as DCAT-AP JSON-LD",
        description="A dcat:Catalog with one dcat:Dataset per dataset you can see. Distributions point at "
        "the portal, never at a backend; confidential datasets are marked non-public.",
        responses={(200, "application/ld+json"): OpenApiResponse(OpenApiTypes.OBJECT, description="JSON-LD"),
                   (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="JSON-LD as JSON"),
                   401: ErrorSerializer, 403: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        datasets = dataset_list_for(user=request.user).prefetch_related("tags", "domain__owners", "product__owners")
        urls = DcatUrls(
            catalog=request.build_absolute_uri(reverse("api-dcat")),
            dataset_page=lambda d: request.build_absolute_uri(reverse("catalog:dataset", args=[d.address])),
            dataset_api=lambda d: request.build_absolute_uri(reverse("api-dataset", args=[d.address])),
            domain_page=lambda d: request.build_absolute_uri(reverse("catalog:domain", args=[d.slug])),
        )
        return Response(catalog_jsonld(datasets=datasets.order_by("address"), urls=urls, title="Data mesh catalog"))
