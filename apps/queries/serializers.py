"""Shapes of the DP query API. Parsing only: the services validate amounts, rights and the SQL."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.privacy.models import Mechanism
from apps.privacy.serializers import AMOUNT, BalanceSerializer, ReleaseEpsilonField
from apps.queries.models import QueryJob
from apps.queries.selectors import query_job_charge, query_job_cost

MECHANISMS = [(Mechanism.LAPLACE.value, Mechanism.LAPLACE.label), (Mechanism.GAUSSIAN.value, Mechanism.GAUSSIAN.label)]


class QueryRequestSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=300, help_text="Address of a confidential dataset.")
    sql = serializers.CharField(max_length=20_000, trim_whitespace=False, help_text="One aggregate SELECT.")
    mechanism = serializers.ChoiceField(choices=MECHANISMS)
    epsilon = serializers.DecimalField(**AMOUNT, required=False, help_text="Laplace: the query's epsilon.")
    rho = serializers.DecimalField(**AMOUNT, required=False, help_text="Gaussian: the query's rho (zCDP).")
    delta = serializers.DecimalField(
        **AMOUNT, required=False, help_text="Only for a GROUP BY on a column without declared categories."
    )


class CostSerializer(serializers.Serializer):
    epsilon = serializers.DecimalField(**AMOUNT)
    delta = serializers.DecimalField(**AMOUNT)
    rho = serializers.DecimalField(**AMOUNT)


class QueryPreviewSerializer(serializers.Serializer):
    allowed = serializers.BooleanField(help_text="Whether submitting now would be granted.")
    reason = serializers.CharField(help_text="Why it would be refused; empty when allowed.")
    cost = CostSerializer(help_text="What submitting would reserve; zero when the answer is memoized.")
    release_epsilon = ReleaseEpsilonField()
    accuracy = serializers.DictField(
        child=serializers.FloatField(), help_text="95% confidence interval half-width of each output."
    )
    memoized = serializers.BooleanField(help_text="True when your identical earlier answer would be given, free.")
    memo_source = serializers.IntegerField(allow_null=True, help_text="The job whose answer would be given.")
    user_balance = BalanceSerializer(allow_null=True)
    dataset_balance = BalanceSerializer(allow_null=True)


class QueryResultSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    ci = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField(allow_null=True)),
        help_text="Per row and column: null, or the [low, high] 95% confidence interval.",
    )
    mechanism = serializers.CharField()
    notes = serializers.ListField(child=serializers.CharField())


class QueryJobSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.address")
    memoized = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField()
    charge = serializers.SerializerMethodField(help_text="free, reserved, charged or released.")
    result = serializers.SerializerMethodField()

    class Meta:
        model = QueryJob
        fields = [
            "id",
            "dataset",
            "sql",
            "mechanism",
            "epsilon",
            "rho",
            "delta",
            "status",
            "error",
            "result",
            "memoized",
            "memo_source",
            "cost",
            "charge",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_memoized(self, job: QueryJob) -> bool:
        return job.memo_source_id is not None

    @extend_schema_field(CostSerializer)
    def get_cost(self, job: QueryJob) -> dict[str, Any]:
        return CostSerializer(query_job_cost(job)).data

    @extend_schema_field(serializers.ChoiceField(choices=["free", "reserved", "charged", "released"]))
    def get_charge(self, job: QueryJob) -> str:
        return query_job_charge(job)

    @extend_schema_field(QueryResultSerializer(allow_null=True))
    def get_result(self, job: QueryJob) -> Any:
        return job.result if job.status == QueryJob.Status.SUCCEEDED else None
