"""What the lineage API answers. The request is an OpenLineage RunEvent, validated by
``apps.lineage.openlineage`` (the spec's JSON schema is too loose and too slow to run per request)."""

from rest_framework import serializers


class DatasetMatchSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    dataset = serializers.CharField(
        allow_null=True, help_text="The catalog address it matched, or null (external, or not visible to you)."
    )


class IngestResultSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    event_type = serializers.CharField(allow_blank=True)
    job = serializers.CharField()
    created = serializers.BooleanField(help_text="False when you stored this (run id, event type) before.")
    inputs = DatasetMatchSerializer(many=True)
    outputs = DatasetMatchSerializer(many=True)


class GraphNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["dataset", "synthetic", "external", "hidden"])
    label = serializers.CharField()
    address = serializers.CharField(allow_blank=True)
    domain = serializers.CharField(required=False)
    domain_name = serializers.CharField(required=False)
    sensitivity = serializers.CharField(required=False)
    namespace = serializers.CharField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    removed = serializers.BooleanField(required=False)
    url = serializers.CharField(required=False)
    graph_url = serializers.CharField(required=False)
    hop = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=["center", "up", "down"])
    expandable = serializers.BooleanField()


class GraphEdgeSerializer(serializers.Serializer):
    id = serializers.CharField()
    source = serializers.CharField()
    target = serializers.CharField()
    job = serializers.CharField(allow_blank=True)
    origin = serializers.ChoiceField(choices=["openlineage", "portal", "synthesis", "hidden"])


class ColumnEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()
    source_field = serializers.CharField()
    target = serializers.CharField()
    target_field = serializers.CharField()
    transformation = serializers.CharField(allow_blank=True)
    job = serializers.CharField()


class GraphFiltersSerializer(serializers.Serializer):
    domain = serializers.CharField(allow_blank=True)
    tag = serializers.CharField(allow_blank=True)


class GraphSerializer(serializers.Serializer):
    center = serializers.CharField()
    up = serializers.IntegerField()
    down = serializers.IntegerField()
    filters = GraphFiltersSerializer()
    nodes = GraphNodeSerializer(many=True)
    edges = GraphEdgeSerializer(many=True)
    column_edges = ColumnEdgeSerializer(many=True)
    truncated = serializers.BooleanField()


class GraphQuerySerializer(serializers.Serializer):
    """The query string of the graph: which node, how far, which filters."""

    dataset = serializers.CharField(required=False, max_length=300, help_text="Catalog address of the center.")
    node = serializers.RegexField(r"^x[0-9]{1,18}$", required=False, help_text="An external node (x<id>).")
    up = serializers.IntegerField(required=False, min_value=0, max_value=5, default=1)
    down = serializers.IntegerField(required=False, min_value=0, max_value=5, default=1)
    domain = serializers.SlugField(required=False, max_length=63, default="", allow_blank=True)
    tag = serializers.SlugField(required=False, max_length=63, default="", allow_blank=True)
    columns = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("dataset") and not attrs.get("node"):
            raise serializers.ValidationError({"dataset": ["Name a dataset (its address) or a node."]})
        return attrs
