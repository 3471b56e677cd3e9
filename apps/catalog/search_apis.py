"""``GET /api/v1/search/``: the catalog search, for signed-in users (session or token)."""

from typing import Any

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.models import Dataset
from apps.catalog.search import CANDIDATE_CAP, MAX_LIMIT, MAX_OFFSET, catalog_search
from apps.catalog.serializers import ErrorSerializer
from apps.usage.access import audit_search


class SearchParamsSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=20)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0)


class FacetSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="What to pass back as a filter.")
    label = serializers.CharField()
    count = serializers.IntegerField(
        help_text="Matching datasets, among those you can see (among the candidates when the count is a lower bound)."
    )
    selected = serializers.BooleanField()


class FacetsSerializer(serializers.Serializer):
    domain = FacetSerializer(many=True)
    sensitivity = FacetSerializer(many=True)
    tag = FacetSerializer(many=True)
    owner = FacetSerializer(many=True)


class SearchHitSerializer(serializers.Serializer):
    address = serializers.CharField()
    name = serializers.CharField()
    domain = serializers.CharField(source="domain.slug")
    product = serializers.CharField(source="product.slug", allow_null=True, help_text="The product's slug, or null.")
    sensitivity = serializers.CharField()
    tags = serializers.SerializerMethodField()
    description = serializers.CharField(help_text="Markdown, as written by the owners.")
    url = serializers.SerializerMethodField(help_text="The dataset's page.")

    def get_tags(self, dataset: Dataset) -> list[str]:
        return [tag.name for tag in dataset.tags.all()]

    def get_url(self, dataset: Dataset) -> str:
        try:
            return reverse("catalog:dataset", kwargs={"address": dataset.address})
        except NoReverseMatch:
            return f"/datasets/{dataset.address}/"


class SearchResponseSerializer(serializers.Serializer):
    count = serializers.IntegerField(
        source="total",
        help_text="All matches, not only this page; at least this many when `count_is_lower_bound`.",
    )
    count_is_lower_bound = serializers.BooleanField(
        source="total_is_lower_bound",
        help_text=(
            "True when the query matched more datasets than the search ranks: then `count`, the results "
            "and the facet counts cover the exact matches and the first candidates only."
        ),
    )
    results = SearchHitSerializer(many=True, source="datasets")
    facets = FacetsSerializer()


def _many(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, many=True, explode=True, description=description)


class CatalogSearchApi(APIView):
    @extend_schema(
        tags=["catalog"],
        summary="Search the datasets you can see",
        description=(
            "Words of `q` match names, addresses, descriptions, tags, product names and column names "
            "(each word as a prefix). An exact match of the whole query with a dataset's name, table or "
            "address comes first. Filters: any of the domains, sensitivities and owners; all of the tags. "
            f"A broad query ranks and counts only its first {CANDIDATE_CAP:,} matches (and the exact "
            "matches): `count_is_lower_bound` is then true."
        ),
        parameters=[
            OpenApiParameter("q", str, description="Search words; empty lists every dataset you can see."),
            _many("domain", "Domain slug."),
            _many("sensitivity", "open or confidential."),
            _many("tag", "Tag name."),
            _many("owner", "Username of a domain or product owner."),
            OpenApiParameter("limit", int, description=f"1 to {MAX_LIMIT}, default 20."),
            OpenApiParameter("offset", int, description=f"0 to {MAX_OFFSET}, default 0."),
        ],
        responses={200: SearchResponseSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        page = SearchParamsSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        params: dict[str, Any] = page.validated_data
        result = catalog_search(
            user=request.user,
            query=request.query_params.get("q", ""),
            domains=request.query_params.getlist("domain"),
            sensitivities=request.query_params.getlist("sensitivity"),
            tags=request.query_params.getlist("tag"),
            owners=request.query_params.getlist("owner"),
            limit=params["limit"],
            offset=params["offset"],
        )
        audit_search(request, query=result.query, total=result.total, via="api")
        return Response(SearchResponseSerializer(result).data)
