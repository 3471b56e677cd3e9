"""The privacy API: policies, dataset-wide budgets, balances, cost previews, reservations and
access requests. Interfaces only: parse, call one selector or service, render."""

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.catalog.selectors import dataset_get_for, domain_get_for, product_get_for
from apps.catalog.serializers import ErrorSerializer
from apps.core.errors import ApplicationError, NotFound
from apps.core.parsers import SafeJSONParser
from apps.domains.permissions import ensure_can_manage_policies
from apps.privacy import accountant, requests, services
from apps.privacy.composition import ZERO, PrivacyCost
from apps.privacy.models import AccessRequest, LedgerEntry, Policy
from apps.privacy.selectors import (
    access_request_get_for,
    access_request_list_for,
    dataset_budget_of,
    grants_for,
    policy_get_for,
    policy_list_for,
)
from apps.privacy.serializers import (
    AccessRequestCreateSerializer,
    AccessRequestDecisionSerializer,
    AccessRequestSerializer,
    CostPreviewSerializer,
    CostSerializer,
    DatasetBudgetSerializer,
    DatasetBudgetWriteSerializer,
    GrantSerializer,
    PolicyCreateSerializer,
    PolicySerializer,
    PolicyWriteSerializer,
    ReservationCreateSerializer,
    ReservationSerializer,
)
from apps.privacy.validation import parse_delta, parse_epsilon

ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
API_RESERVATION_PREFIX = "api:"
ADDRESS = OpenApiParameter("address", str, OpenApiParameter.PATH, description="Dataset address, e.g. hr.census.adult")


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


def _parsed(serializer_class: type[Serializer], request: Request, *, partial: bool = False) -> dict[str, Any]:
    if request.stream is None and not partial:
        raise ParseError("The request body is empty: send a JSON object.")
    serializer = serializer_class(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _scope(user: User, scope: dict[str, str]) -> Any:
    if "dataset" in scope:
        return dataset_get_for(user=user, address=scope["dataset"])
    if "product" in scope:
        domain_slug, _, slug = scope["product"].partition("/")
        return product_get_for(user=user, domain_slug=domain_slug, slug=slug)
    return domain_get_for(user=user, slug=scope["domain"])


def _subject(fields: dict[str, Any]) -> dict[str, Any]:
    if ("user" in fields) == ("group" in fields):
        raise ApplicationError("Give either user or group.", field="user")
    if "user" in fields:
        user = User.objects.filter(username=fields.pop("user"), is_active=True).first()
        if user is None:
            raise ApplicationError("No active user has that username.", field="user")
        return {"user": user}
    group = Group.objects.filter(name=fields.pop("group")).first()
    if group is None:
        raise ApplicationError("No group has that name.", field="group")
    return {"group": group}


def _cost(fields: dict[str, Any]) -> PrivacyCost:
    return PrivacyCost(
        epsilon=parse_epsilon(fields.get("epsilon", ZERO)),
        delta=parse_delta(fields.get("delta", ZERO)),
        rho=parse_epsilon(fields.get("rho", ZERO), field="rho"),
    )


class _Api(APIView):
    parser_classes = [SafeJSONParser]


class PolicyListApi(generics.ListAPIView, _Api):
    serializer_class = PolicySerializer
    pagination_class = Pagination
    queryset = Policy.objects.none()

    def get_queryset(self) -> QuerySet[Policy]:
        return policy_list_for(user=self.request.user)

    @extend_schema(
        tags=["privacy"],
        summary="Policies: your own, and those on what you own",
        responses={200: PolicySerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["privacy"],
        summary="Create or replace the policy of a user or group on a scope",
        request=PolicyCreateSerializer,
        responses={201: PolicySerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        fields = _parsed(PolicyCreateSerializer, request)
        scope = _scope(request.user, fields.pop("scope"))
        ensure_can_manage_policies(request.user, scope)
        subject = _subject(fields)
        policy = services.policy_save(
            actor=request.user, scope=scope, request_id=request.request_id, **subject, **fields
        )
        return Response(PolicySerializer(policy).data, status=201)


class PolicyDetailApi(_Api):
    @extend_schema(tags=["privacy"], summary="One policy", responses={200: PolicySerializer, **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(PolicySerializer(policy_get_for(user=request.user, pk=pk)).data)

    @extend_schema(
        tags=["privacy"],
        summary="Change a policy (owners and admins)",
        request=PolicyWriteSerializer,
        responses={200: PolicySerializer, **ERRORS},
    )
    def patch(self, request: Request, pk: int) -> Response:
        policy = policy_get_for(user=request.user, pk=pk)
        scope = policy.dataset or policy.product or policy.domain
        ensure_can_manage_policies(request.user, scope)
        current = {
            "access_mode": policy.access_mode,
            "epsilon_budget": policy.epsilon_budget,
            "delta_budget": policy.delta_budget,
            "epsilon_per_release_cap": policy.epsilon_per_release_cap,
            "allowed_mechanisms": policy.allowed_mechanisms,
            "expires_at": policy.expires_at,
        }
        current.update(_parsed(PolicyWriteSerializer, request, partial=True))
        policy = services.policy_save(
            actor=request.user,
            scope=scope,
            user=policy.user,
            group=policy.group,
            request_id=request.request_id,
            **current,
        )
        return Response(PolicySerializer(policy).data)

    @extend_schema(
        tags=["privacy"], summary="Revoke a policy (what was spent stays spent)", responses={204: None, **ERRORS}
    )
    def delete(self, request: Request, pk: int) -> Response:
        services.policy_revoke(
            actor=request.user, policy=policy_get_for(user=request.user, pk=pk), request_id=request.request_id
        )
        return Response(status=204)


class MyBudgetsApi(_Api):
    @extend_schema(
        tags=["privacy"],
        summary="Your grants on confidential datasets and what is left of each",
        responses={200: GrantSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        return Response(GrantSerializer(grants_for(user=request.user), many=True).data)


class DatasetBudgetApi(_Api):
    def _dataset(self, request: Request, address: str) -> Dataset:
        dataset = dataset_get_for(user=request.user, address=address)
        ensure_can_manage_policies(request.user, dataset)
        return dataset

    def _render(self, dataset: Dataset) -> Response:
        _, balance = dataset_budget_of(dataset)
        users = User.objects.filter(budget_accounts__dataset=dataset).order_by("username")
        accounts = [{"user": u.username, "balance": accountant.user_balance(user=u, dataset=dataset)} for u in users]
        return Response(
            DatasetBudgetSerializer({"dataset": dataset.address, "balance": balance, "accounts": accounts}).data
        )

    @extend_schema(
        tags=["privacy"],
        summary="A dataset's budget and every user's balance on it (owners)",
        parameters=[ADDRESS],
        responses={200: DatasetBudgetSerializer, **ERRORS},
    )
    def get(self, request: Request, address: str) -> Response:
        return self._render(self._dataset(request, address))

    @extend_schema(
        tags=["privacy"],
        summary="Set a dataset's total budget (owners)",
        parameters=[ADDRESS],
        request=DatasetBudgetWriteSerializer,
        responses={200: DatasetBudgetSerializer, **ERRORS},
    )
    def put(self, request: Request, address: str) -> Response:
        dataset = self._dataset(request, address)
        fields = _parsed(DatasetBudgetWriteSerializer, request)
        services.dataset_budget_set(
            actor=request.user,
            dataset=dataset,
            epsilon_limit=fields["epsilon_limit"],
            delta_limit=fields.get("delta_limit", Decimal(0)),
            request_id=request.request_id,
        )
        return self._render(dataset)


class CostPreviewApi(_Api):
    @extend_schema(
        tags=["privacy"],
        summary="What a release would cost and whether it would pass; charges nothing",
        request=CostSerializer,
        responses={200: CostPreviewSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        fields = _parsed(CostSerializer, request)
        dataset = dataset_get_for(user=request.user, address=fields["dataset"])
        preview = accountant.cost_preview(
            user=request.user, dataset=dataset, cost=_cost(fields), mechanism=fields["mechanism"]
        )
        return Response(CostPreviewSerializer(preview).data)


class ReservationListApi(generics.ListAPIView, _Api):
    serializer_class = ReservationSerializer
    pagination_class = Pagination
    queryset = LedgerEntry.objects.none()

    def get_queryset(self) -> QuerySet[LedgerEntry]:
        return (
            LedgerEntry.objects.filter(user=self.request.user, kind=LedgerEntry.Kind.RESERVE)
            .select_related("dataset")
            .prefetch_related("endings")
            .order_by("-created_at", "-id")
        )

    @extend_schema(tags=["privacy"], summary="Your reservations", responses={200: ReservationSerializer(many=True)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["privacy"],
        summary="Reserve budget for a release (refused if it would overspend)",
        request=ReservationCreateSerializer,
        responses={201: ReservationSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        fields = _parsed(ReservationCreateSerializer, request)
        dataset = dataset_get_for(user=request.user, address=fields["dataset"])
        entry = accountant.budget_reserve(
            actor=request.user,
            dataset=dataset,
            cost=_cost(fields),
            mechanism=fields["mechanism"],
            reference=API_RESERVATION_PREFIX + fields.get("reference", ""),
            request_id=request.request_id,
        )
        return Response(ReservationSerializer(entry).data, status=201)


class ReservationReleaseApi(_Api):
    @extend_schema(
        tags=["privacy"],
        summary="Give back a reservation made through this API",
        request=None,
        responses={200: ReservationSerializer, **ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        entry = LedgerEntry.objects.filter(pk=pk, user=request.user, kind=LedgerEntry.Kind.RESERVE).first()
        if entry is None:
            raise NotFound("Not found.")
        if not entry.reference.startswith(API_RESERVATION_PREFIX):
            raise ApplicationError("This reservation belongs to a job: it ends with the job.")
        accountant.budget_release(reservation=entry, request_id=request.request_id)
        return Response(ReservationSerializer(entry).data)


class AccessRequestListApi(generics.ListAPIView, _Api):
    serializer_class = AccessRequestSerializer
    pagination_class = Pagination
    queryset = AccessRequest.objects.none()

    def get_queryset(self) -> QuerySet[AccessRequest]:
        return access_request_list_for(user=self.request.user)

    @extend_schema(
        tags=["privacy"],
        summary="Your requests, and those on what you own",
        responses={200: AccessRequestSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["privacy"],
        summary="Ask for access or more budget on a dataset",
        request=AccessRequestCreateSerializer,
        responses={201: AccessRequestSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        fields = _parsed(AccessRequestCreateSerializer, request)
        dataset = dataset_get_for(user=request.user, address=fields.pop("dataset"))
        created = requests.access_request_create(
            actor=request.user, dataset=dataset, request_id=request.request_id, **fields
        )
        return Response(AccessRequestSerializer(created).data, status=201)


class AccessRequestDetailApi(_Api):
    @extend_schema(tags=["privacy"], summary="One access request", responses={200: AccessRequestSerializer, **ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(AccessRequestSerializer(access_request_get_for(user=request.user, pk=pk)).data)


class AccessRequestDecisionApi(_Api):
    action: str = ""

    @extend_schema(
        tags=["privacy"],
        summary="Approve, deny or withdraw a request",
        request=AccessRequestDecisionSerializer,
        responses={200: AccessRequestSerializer, **ERRORS},
    )
    def post(self, request: Request, pk: int) -> Response:
        found = access_request_get_for(user=request.user, pk=pk)
        fields = _parsed(AccessRequestDecisionSerializer, request, partial=True)
        if self.action == "approve":
            decided = requests.access_request_approve(
                actor=request.user, request=found, request_id=request.request_id, **fields
            )
        elif self.action == "deny":
            decided = requests.access_request_deny(
                actor=request.user, request=found, comment=fields.get("comment", ""), request_id=request.request_id
            )
        else:
            decided = requests.access_request_withdraw(actor=request.user, request=found, request_id=request.request_id)
        return Response(AccessRequestSerializer(decided).data)
