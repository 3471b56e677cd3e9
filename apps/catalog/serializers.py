"""What the catalog API shows and what it accepts. Input serializers only parse types; the
services validate meaning (bounds, categories, sensitivity) and check rights."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from apps.catalog.models import Column, DataProduct, Dataset
from apps.catalog.selectors import dataset_list_for, product_get_for
from apps.core.markdown import render_markdown
from apps.domains.models import Domain, Sensitivity

MAX_LIST_ITEMS = 10_000

# --- output ----------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What went wrong, in words; never a data value.")
    code = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="The fields at fault, each with its messages.",
    )


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class NamesField(serializers.Field):
    """The sorted names of a many-to-many relation (usernames of owners, names of groups or tags)."""

    def __init__(self, *, name_attr: str, **kwargs: Any) -> None:
        self.name_attr = name_attr
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> list[str]:
        return sorted(getattr(item, self.name_attr) for item in value.all())


@extend_schema_field({"type": "string", "nullable": True, "example": "17"})
class BoundField(serializers.Field):
    """A declared bound as a plain decimal string (``"17"``, ``"0.5"``), or null."""

    def to_representation(self, value: Decimal) -> str:
        text = format(value.normalize(), "f")
        return "0" if text == "-0" else text


class ColumnSerializer(serializers.ModelSerializer):
    tags = NamesField(name_attr="name")
    lower_bound = BoundField(read_only=True, allow_null=True)
    upper_bound = BoundField(read_only=True, allow_null=True)
    categories = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Column
        fields = [
            "name", "position", "data_type", "logical_type", "nullable", "description", "classification",
            "classification_confirmed", "tags", "lower_bound", "upper_bound", "categories",
        ]
        read_only_fields = fields


class DomainSerializer(serializers.ModelSerializer):
    owners = NamesField(name_attr="username")
    visible_to_groups = NamesField(name_attr="name")
    description_html = serializers.SerializerMethodField(help_text="The description rendered and sanitized.")

    class Meta:
        model = Domain
        fields = [
            "slug", "name", "sensitivity", "description", "description_html", "owners", "visible_to_groups",
            "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_description_html(self, obj: Domain) -> str:
        return render_markdown(obj.description)


class ProductSerializer(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(read_only=True, slug_field="slug")
    owners = NamesField(name_attr="username")
    tags = NamesField(name_attr="name")
    description_html = serializers.SerializerMethodField(help_text="The description rendered and sanitized.")
    freshness_hours = serializers.SerializerMethodField(help_text="How old outputs may get, in hours.")
    datasets = serializers.SerializerMethodField(help_text="Addresses of the product's current datasets.")

    class Meta:
        model = DataProduct
        fields = [
            "domain", "slug", "name", "status", "description", "description_html", "owners", "tags",
            "freshness_hours", "datasets", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_description_html(self, obj: DataProduct) -> str:
        return render_markdown(obj.description)

    def get_freshness_hours(self, obj: DataProduct) -> float | None:
        if obj.freshness_expectation is None:
            return None
        return obj.freshness_expectation.total_seconds() / 3600

    def get_datasets(self, obj: DataProduct) -> list[str]:
        """Only what the viewer may see: a synthetic sample is listed for readers of its source alone.
        Lists prefetch ``visible_datasets`` (``dataset_list_for``); otherwise the ``user`` (or the
        request's user) in the context decides, and without one nothing is listed."""
        visible = getattr(obj, "visible_datasets", None)
        if visible is None:
            user = self.context.get("user") or getattr(self.context.get("request"), "user", None)
            if user is None:
                return []
            visible = dataset_list_for(user=user).filter(product=obj)
        return sorted(d.address for d in visible if d.removed_at is None)


class BackendRefSerializer(serializers.Serializer):
    """Which backend holds the table and whether it answers; never its URL or credentials."""

    slug = serializers.CharField()
    kind = serializers.CharField()
    health = serializers.CharField()


class DatasetSerializer(serializers.ModelSerializer):
    domain = serializers.SlugRelatedField(read_only=True, slug_field="slug")
    product = serializers.SlugRelatedField(read_only=True, slug_field="slug", allow_null=True)
    backend = BackendRefSerializer(read_only=True, allow_null=True)
    tags = NamesField(name_attr="name")
    owners = serializers.SerializerMethodField(help_text="Owners of the domain and of the product.")
    description_html = serializers.SerializerMethodField(help_text="The description rendered and sanitized.")
    row_count = serializers.SerializerMethodField(help_text="Null for confidential datasets.")

    class Meta:
        model = Dataset
        fields = [
            "address", "name", "domain", "product", "backend", "sensitivity", "description", "description_html",
            "tags", "owners", "privacy_unit_column", "max_rows_per_unit", "row_count", "version", "harvested_at",
            "removed_at",
        ]
        read_only_fields = fields

    def get_owners(self, obj: Dataset) -> list[str]:
        owners = {u.username for u in obj.domain.owners.all()}
        if obj.product is not None:
            owners |= {u.username for u in obj.product.owners.all()}
        return sorted(owners)

    def get_description_html(self, obj: Dataset) -> str:
        return render_markdown(obj.description)

    def get_row_count(self, obj: Dataset) -> int | None:
        return None if obj.is_confidential else obj.row_count


class DatasetDetailSerializer(DatasetSerializer):
    columns = ColumnSerializer(
        many=True, read_only=True, source="current_columns", help_text="The current columns, in table order."
    )

    class Meta(DatasetSerializer.Meta):
        fields = [*DatasetSerializer.Meta.fields, "columns"]
        read_only_fields = fields


# --- input -----------------------------------------------------------------------------------

_NO_SURROGATES = ProhibitSurrogateCharactersValidator()


def _check_text(value: str) -> None:
    if "\x00" in value:
        raise serializers.ValidationError("Null characters are not allowed.")
    _NO_SURROGATES(value)


class StrictCharField(serializers.CharField):
    """Text only: a number or a list is refused rather than turned into text."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class StringListField(serializers.Field):
    """A JSON list of strings, passed on as is for the service to validate."""

    default_error_messages = {"invalid": "Must be a list of strings."}

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("invalid")
        if len(data) > MAX_LIST_ITEMS:
            raise serializers.ValidationError(f"At most {MAX_LIST_ITEMS} items.")
        for item in data:
            _check_text(item)
        return data

    def to_representation(self, value: list[str]) -> list[str]:
        return value


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string"}]})
class NumberOrTextField(serializers.Field):
    """A JSON number or a numeric string (exact decimals travel best as strings), or null."""

    default_error_messages = {"invalid": "Must be a number or a numeric string."}

    def to_internal_value(self, data: Any) -> int | float | str:
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        if isinstance(data, str):
            if len(data) > 100:
                self.fail("invalid")
            _check_text(data)
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class _StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is a 400 rather than a silent no-op."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [name for name in data if name not in self.fields]
            if unknown:
                allowed = ", ".join(self.fields)
                # ascii(): a field name is echoed back, and must encode whatever was sent.
                raise serializers.ValidationError(
                    {ascii(str(name))[1:-1][:80]: [f"Unknown field. Allowed: {allowed}."] for name in unknown[:20]}
                )
        return super().to_internal_value(data)


class DomainUpdateSerializer(_StrictSerializer):
    name = StrictCharField(required=False, allow_blank=True)
    description = StrictCharField(required=False, allow_blank=True)
    sensitivity = StrictCharField(required=False, help_text=f"One of: {', '.join(Sensitivity.values)}.")
    visible_to_groups = StringListField(
        required=False, help_text="Names of the groups that may see the domain; empty: every signed-in user."
    )


class ProductCreateSerializer(_StrictSerializer):
    slug = StrictCharField(max_length=63)
    name = StrictCharField(required=False, allow_blank=True, default="")
    description = StrictCharField(required=False, allow_blank=True, default="")
    tags = StringListField(required=False, default=list)
    status = StrictCharField(
        required=False, default=DataProduct.Status.ACTIVE, help_text=f"One of: {', '.join(DataProduct.Status.values)}."
    )
    freshness_hours = serializers.FloatField(required=False, allow_null=True, default=None)


class ProductUpdateSerializer(_StrictSerializer):
    name = StrictCharField(required=False, allow_blank=True)
    description = StrictCharField(required=False, allow_blank=True)
    tags = StringListField(required=False)
    status = StrictCharField(required=False, help_text=f"One of: {', '.join(DataProduct.Status.values)}.")
    freshness_hours = serializers.FloatField(required=False, allow_null=True)
    owners = StringListField(required=False, help_text="Usernames of the product's owners.")


class DatasetUpdateSerializer(_StrictSerializer):
    description = StrictCharField(required=False, allow_blank=True)
    tags = StringListField(required=False)
    sensitivity = StrictCharField(required=False, help_text=f"One of: {', '.join(Sensitivity.values)}.")
    privacy_unit_column = StrictCharField(required=False, allow_blank=True, max_length=200)
    max_rows_per_unit = serializers.IntegerField(required=False)
    product = StrictCharField(
        required=False, allow_null=True, help_text="Slug of a product of the dataset's domain, or null."
    )

    def validate_product(self, value: str | None) -> DataProduct | None:
        if value is None:
            return None
        dataset: Dataset = self.context["dataset"]
        try:
            return product_get_for(user=self.context["user"], domain_slug=dataset.domain.slug, slug=value)
        except Http404:
            raise serializers.ValidationError("No product with this slug in the dataset's domain.") from None


class ColumnUpdateSerializer(_StrictSerializer):
    description = StrictCharField(required=False, allow_blank=True)
    classification = StrictCharField(
        required=False, help_text=f"One of: {', '.join(Column.Classification.values)}."
    )
    tags = StringListField(required=False)
    lower_bound = NumberOrTextField(required=False, allow_null=True)
    upper_bound = NumberOrTextField(required=False, allow_null=True)
    categories = StringListField(required=False, allow_null=True, help_text="The declared, public categories.")


class DatasetFilterSerializer(serializers.Serializer):
    domain = serializers.CharField(required=False, max_length=63, help_text="Domain slug.")
    product = serializers.CharField(required=False, max_length=63, help_text="Product slug.")
    sensitivity = serializers.ChoiceField(
        choices=Sensitivity.choices, required=False,
        error_messages={"invalid_choice": f"sensitivity must be one of: {', '.join(Sensitivity.values)}."},
    )
    tag = serializers.CharField(required=False, max_length=63, help_text="Tag name.")


class ProductFilterSerializer(serializers.Serializer):
    domain = serializers.CharField(required=False, max_length=63, help_text="Domain slug.")
