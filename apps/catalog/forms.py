"""Forms of the owners' inline edits. They only render fields and carry raw text: every rule
(bounds, categories, the privacy unit...) lives in ``apps.catalog.services`` and comes back as an
``ApplicationError`` attached to the field it names."""

from decimal import Decimal
from typing import Any

from django import forms

from apps.catalog.models import Column, DataProduct, Dataset
from apps.core.errors import ApplicationError
from apps.domains.models import Domain


def plain_number(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def _tag_names(obj: Any) -> str:
    return ", ".join(tag.name for tag in obj.tags.all())


class EditForm(forms.Form):
    """Only fields present in the submitted data are changed: a partial POST leaves the rest alone."""

    def changes(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.fields if name in self.data}

    def add_application_error(self, exc: ApplicationError) -> None:
        self.add_error(exc.field if exc.field in self.fields and self.shows(exc.field) else None, exc.message)

    def shows(self, name: str) -> bool:
        """Whether the template renders this field (an error on a hidden one goes on top of the form)."""
        return True


def _text(label: str, *, rows: int | None = None, help_text: str = "") -> forms.CharField:
    widget = forms.Textarea(attrs={"rows": rows}) if rows else forms.TextInput()
    return forms.CharField(label=label, required=False, widget=widget, help_text=help_text)


TAGS_HELP = "Comma-separated, e.g. hr, census."


class DescriptionForm(EditForm):
    description = _text("Description", rows=6, help_text="Markdown.")

    def __init__(self, *args: Any, obj: Domain | DataProduct, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"description": obj.description})
        super().__init__(*args, **kwargs)


class ProductForm(DescriptionForm):
    tags = _text("Tags", help_text=TAGS_HELP)

    def __init__(self, *args: Any, obj: DataProduct, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"description": obj.description, "tags": _tag_names(obj)})
        super().__init__(*args, obj=obj, **kwargs)


class DatasetForm(EditForm):
    description = _text("Description", rows=6, help_text="Markdown.")
    tags = _text("Tags", help_text=TAGS_HELP)
    privacy_unit_column = forms.CharField(
        label="Privacy unit", required=False, widget=forms.Select,
        help_text="The column that identifies one person.",
    )
    max_rows_per_unit = forms.CharField(
        label="Max rows per unit", required=False,
        widget=forms.NumberInput(attrs={"min": 1, "step": 1}),
        help_text="Most rows one person may contribute.",
    )

    def __init__(self, *args: Any, dataset: Dataset, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {
            "description": dataset.description,
            "tags": _tag_names(dataset),
            "privacy_unit_column": dataset.privacy_unit_column,
            "max_rows_per_unit": dataset.max_rows_per_unit,
        })
        super().__init__(*args, **kwargs)
        names = [c.name for c in dataset.columns.filter(removed_at__isnull=True).order_by("position", "name")]
        choices = [("", "(none)"), *((n, n) for n in names)]
        if dataset.privacy_unit_column and dataset.privacy_unit_column not in names:
            # Kept as a choice so that saving names the problem instead of clearing it silently.
            choices.append((dataset.privacy_unit_column, f"{dataset.privacy_unit_column} (no longer a column)"))
        self.fields["privacy_unit_column"].widget.choices = choices


class ColumnForm(EditForm):
    description = _text("Description", rows=3)
    classification = forms.CharField(
        label="Classification", required=False, widget=forms.Select(choices=Column.Classification.choices)
    )
    confirm_classification = forms.BooleanField(label="Confirm the suggested classification", required=False)
    tags = _text("Tags", help_text=TAGS_HELP)
    lower_bound = _text("Lower bound")
    upper_bound = _text("Upper bound")
    categories = _text("Categories", rows=4, help_text="One a line; each one unique.")

    def __init__(self, *args: Any, column: Column, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {
            "description": column.description,
            "classification": column.classification,
            "tags": _tag_names(column),
            "lower_bound": plain_number(column.lower_bound),
            "upper_bound": plain_number(column.upper_bound),
            "categories": "\n".join(column.categories or []),
        })
        kwargs.setdefault("auto_id", f"id_col{column.pk}_%s")
        super().__init__(*args, **kwargs)
        self.column = column
        for name in ("lower_bound", "upper_bound"):
            self.fields[name].widget.attrs["inputmode"] = "decimal"

    def shows(self, name: str) -> bool:
        if name in ("lower_bound", "upper_bound"):
            return self.column.is_numeric
        return name != "confirm_classification" or not self.column.classification_confirmed

    def changes(self) -> dict[str, Any]:
        """Saving the form confirms a classification only when it was changed or confirmed explicitly."""
        changes = super().changes()
        changes.pop("confirm_classification", None)
        if changes.get("classification") == self.column.classification and not self.cleaned_data.get(
            "confirm_classification"
        ):
            changes.pop("classification")
        return changes
