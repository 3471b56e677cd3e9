"""Shapes of the synthetic-data API. Parsing only: the services validate amounts, rights, columns
and the synthesizer (with the engine's messages)."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.privacy.serializers import AMOUNT, BalanceSerializer, ReleaseEpsilonField
from apps.queries.serializers import CostSerializer  # the same shape as a query's cost
from apps.synth.models import SynthJob
from apps.synth.selectors import synth_job_charge, synth_job_cost


class SynthRequestSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=300, help_text="Address of a confidential dataset.")
    synthesizer = serializers.CharField(
        max_length=32, required=False, help_text="mst (the default) or another offered synthesizer."
    )
    columns = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=200,
        help_text="The columns to synthesize; empty or absent: every column with declared metadata.",
    )
    epsilon = serializers.DecimalField(**AMOUNT, help_text="The sample's epsilon, within your policy.")
    delta = serializers.DecimalField(
        **AMOUNT,
        required=False,
        help_text="The delta at which epsilon is converted to zCDP's rho (default 0.000001); rho is charged.",
    )
    rows = serializers.IntegerField(min_value=1, max_value=10_000_000, help_text="Rows to generate.")


class SynthPreviewSerializer(serializers.Serializer):
    allowed = serializers.BooleanField(help_text="Whether submitting now would be granted.")
    reason = serializers.CharField(help_text="Why it would be refused; empty when allowed.")
    synthesizer = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField(), help_text="The columns that would be synthesized.")
    rows = serializers.IntegerField()
    cost = CostSerializer(help_text="What submitting would reserve.")
    release_epsilon = ReleaseEpsilonField()
    user_balance = BalanceSerializer(allow_null=True)
    dataset_balance = BalanceSerializer(allow_null=True)


class SynthesizerSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    privacy_note = serializers.CharField()
    offered = serializers.BooleanField()
    default = serializers.BooleanField()


class UtilitySerializer(serializers.Serializer):
    one_way = serializers.DictField(child=serializers.FloatField(allow_null=True))
    two_way = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    mean_one_way = serializers.FloatField(allow_null=True)
    mean_two_way = serializers.FloatField(allow_null=True)


class SynthJobSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.address")
    percent = serializers.IntegerField(read_only=True, help_text="Progress, 0 to 100.")
    eta_seconds = serializers.IntegerField(read_only=True, allow_null=True, help_text="Seconds left, estimated.")
    cost = serializers.SerializerMethodField()
    charge = serializers.SerializerMethodField(help_text="reserved, charged or released.")
    output = serializers.SerializerMethodField(help_text="The sample's catalog address once stored.")
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = SynthJob
        fields = [
            "id",
            "dataset",
            "purpose",
            "synthesizer",
            "columns",
            "epsilon",
            "delta",
            "rows",
            "status",
            "phase",
            "percent",
            "eta_seconds",
            "cancel_requested",
            "error",
            "details",
            "sample_rows",
            "output",
            "downloads",
            "cost",
            "charge",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CostSerializer)
    def get_cost(self, job: SynthJob) -> dict[str, Any]:
        return CostSerializer(synth_job_cost(job)).data

    @extend_schema_field(serializers.ChoiceField(choices=["free", "reserved", "charged", "released"]))
    def get_charge(self, job: SynthJob) -> str:
        return synth_job_charge(job)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_output(self, job: SynthJob) -> str | None:
        return job.output.address if job.output_id else None

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_downloads(self, job: SynthJob) -> dict[str, str]:
        if job.status != SynthJob.Status.SUCCEEDED:
            return {}
        base = f"/api/v1/synth/jobs/{job.pk}/sample"
        return {"csv": f"{base}.csv", "parquet": f"{base}.parquet"}


class SynthJobOwnerSerializer(SynthJobSerializer):
    """The same, with the utility report: for the source's owners only (it compares with real data)."""

    utility = serializers.SerializerMethodField()

    class Meta(SynthJobSerializer.Meta):
        fields = [*SynthJobSerializer.Meta.fields, "utility"]
        read_only_fields = fields

    @extend_schema_field(UtilitySerializer(allow_null=True))
    def get_utility(self, job: SynthJob) -> Any:
        return job.utility


class PreviewRequestSerializer(serializers.Serializer):
    epsilon = serializers.DecimalField(
        **AMOUNT, required=False, help_text="Total epsilon of the preview (histograms and sample); default 1."
    )


class HistogramSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField())
    counts = serializers.ListField(child=serializers.IntegerField())


class DatasetPreviewSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    job = serializers.IntegerField(allow_null=True)
    made_at = serializers.DateTimeField(allow_null=True)
    epsilon = serializers.DecimalField(**AMOUNT, allow_null=True)
    histograms = serializers.DictField(child=HistogramSerializer())
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    pending = serializers.IntegerField(allow_null=True, help_text="A preview being made now, if any.")
