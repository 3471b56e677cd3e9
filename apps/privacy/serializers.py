"""Shapes of the privacy API. Parsing only: services validate amounts and rights."""

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.privacy.accountant import Balance
from apps.privacy.models import AccessMode, AccessRequest, LedgerEntry, Mechanism, Policy

AMOUNT = {"max_digits": 30, "decimal_places": 18, "coerce_to_string": True}


class ReleaseEpsilonField(serializers.DecimalField):
    """A release's epsilon; ``null`` when it is unbounded (a zCDP release with no delta to convert at)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**AMOUNT, allow_null=True, help_text="This release alone, as epsilon (null: unbounded).")

    def to_representation(self, value: Any) -> Any:
        if isinstance(value, Decimal) and not value.is_finite():
            return None
        return super().to_representation(value)


class ScopeSerializer(serializers.Serializer):
    dataset = serializers.CharField(required=False, max_length=300, help_text="A dataset address.")
    product = serializers.CharField(required=False, max_length=130, help_text="<domain>/<product slug>.")
    domain = serializers.SlugField(required=False, max_length=63)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError("Give exactly one of dataset, product or domain.")
        return attrs


class PolicyWriteSerializer(serializers.Serializer):
    access_mode = serializers.ChoiceField(choices=AccessMode.choices, required=False)
    epsilon_budget = serializers.DecimalField(**AMOUNT, required=False)
    delta_budget = serializers.DecimalField(**AMOUNT, required=False)
    epsilon_per_release_cap = serializers.DecimalField(**AMOUNT, required=False, allow_null=True)
    allowed_mechanisms = serializers.ListField(
        child=serializers.ChoiceField(choices=Mechanism.choices), required=False, max_length=10
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class PolicyCreateSerializer(PolicyWriteSerializer):
    user = serializers.CharField(required=False, max_length=150, help_text="Username (or give group).")
    group = serializers.CharField(required=False, max_length=150, help_text="Group name (or give user).")
    scope = ScopeSerializer()


class BalanceSerializer(serializers.Serializer):
    epsilon_limit = serializers.DecimalField(**AMOUNT, source="limit.epsilon")
    delta_limit = serializers.DecimalField(**AMOUNT, source="limit.delta")
    spent_epsilon = serializers.DecimalField(**AMOUNT, source="spent.epsilon")
    spent_delta = serializers.DecimalField(**AMOUNT, source="spent.delta")
    spent_rho = serializers.DecimalField(**AMOUNT, source="spent.rho")
    reserved_epsilon = serializers.DecimalField(**AMOUNT, source="reserved.epsilon")
    reserved_delta = serializers.DecimalField(**AMOUNT, source="reserved.delta")
    reserved_rho = serializers.DecimalField(**AMOUNT, source="reserved.rho")
    epsilon_used = serializers.DecimalField(
        **AMOUNT, help_text="Spent and reserved, composed (rho converted at the delta left)."
    )
    epsilon_remaining = serializers.DecimalField(**AMOUNT)
    delta_remaining = serializers.DecimalField(**AMOUNT)


class PolicySerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    group = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    scope = serializers.CharField(source="scope_label", read_only=True)

    class Meta:
        model = Policy
        fields = [
            "id",
            "user",
            "group",
            "scope",
            "access_mode",
            "epsilon_budget",
            "delta_budget",
            "epsilon_per_release_cap",
            "allowed_mechanisms",
            "expires_at",
            "created_at",
            "updated_at",
        ]


class GrantSerializer(serializers.Serializer):
    dataset = serializers.CharField(source="dataset.address")
    policy = PolicySerializer()
    balance = BalanceSerializer(allow_null=True)


class DatasetBudgetWriteSerializer(serializers.Serializer):
    epsilon_limit = serializers.DecimalField(**AMOUNT)
    delta_limit = serializers.DecimalField(**AMOUNT, required=False)


class AccountSerializer(serializers.Serializer):
    user = serializers.CharField()
    balance = BalanceSerializer(allow_null=True)


class DatasetBudgetSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    balance = BalanceSerializer(allow_null=True, help_text="Null until the owners set a dataset-wide budget.")
    accounts = AccountSerializer(many=True, help_text="Each user's balance on this dataset.")


class CostSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=300)
    mechanism = serializers.ChoiceField(choices=Mechanism.choices)
    epsilon = serializers.DecimalField(**AMOUNT, required=False)
    delta = serializers.DecimalField(**AMOUNT, required=False)
    rho = serializers.DecimalField(**AMOUNT, required=False)


class ReservationCreateSerializer(CostSerializer):
    reference = serializers.CharField(required=False, max_length=150, allow_blank=True)


class CostPreviewSerializer(serializers.Serializer):
    epsilon = serializers.DecimalField(**AMOUNT, source="cost.epsilon")
    delta = serializers.DecimalField(**AMOUNT, source="cost.delta")
    rho = serializers.DecimalField(**AMOUNT, source="cost.rho")
    release_epsilon = ReleaseEpsilonField()
    allowed = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why it would be refused; empty when allowed.")
    user_balance = BalanceSerializer(allow_null=True)
    dataset_balance = BalanceSerializer(allow_null=True)


class ReservationSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.address")
    state = serializers.SerializerMethodField()

    class Meta:
        model = LedgerEntry
        fields = ["id", "dataset", "mechanism", "epsilon", "delta", "rho", "reference", "state", "created_at"]

    def get_state(self, entry: LedgerEntry) -> str:
        ending = entry.endings.first()
        return "reserved" if ending is None else {"commit": "committed", "release": "released"}[ending.kind]


class AccessRequestCreateSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=300)
    access_mode = serializers.ChoiceField(choices=AccessMode.choices, default=AccessMode.DP)
    epsilon = serializers.DecimalField(**AMOUNT)
    delta = serializers.DecimalField(**AMOUNT, required=False)
    reason = serializers.CharField(max_length=5000)


class AccessRequestDecisionSerializer(PolicyWriteSerializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class AccessRequestSerializer(serializers.ModelSerializer):
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    dataset = serializers.CharField(source="dataset.address")

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "requester",
            "dataset",
            "access_mode",
            "epsilon",
            "delta",
            "reason",
            "status",
            "decided_by",
            "decision_comment",
            "created_at",
            "decided_at",
        ]


def balance_or_none(balance: Balance | None) -> Any:
    return BalanceSerializer(balance).data if balance is not None else None
