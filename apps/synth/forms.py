"""The synthetic-data form. It renders the fields and carries the raw text typed: the services parse
the amounts, check the columns' declared metadata and the synthesizer, and their refusals come back
as messages."""

from typing import Any

from django import forms

from apps.catalog.models import Dataset


def _amount(label: str, help_text: str) -> forms.CharField:
    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"})
    return forms.CharField(label=label, required=False, widget=widget, help_text=help_text)


class SynthForm(forms.Form):
    dataset = forms.CharField(widget=forms.HiddenInput)
    synthesizer = forms.ChoiceField(label="Synthesizer")
    columns = forms.MultipleChoiceField(
        label="Columns",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every column with declared bounds or categories.",
    )
    epsilon = _amount("Epsilon", "Privacy loss of the whole sample, paid from your budget.")
    delta = _amount("Delta", "Where (epsilon, delta) is converted to zCDP's rho; rho is what is charged.")
    rows = forms.CharField(
        label="Rows",
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text="How many synthetic rows to generate (not the size of the real table).",
    )

    def __init__(self, *args: Any, dataset: Dataset, synthesizers: list[tuple[str, str]], default: str, **kwargs: Any):
        kwargs.setdefault(
            "initial",
            {"dataset": dataset.address, "synthesizer": default, "epsilon": "1", "delta": "0.000001", "rows": "1000"},
        )
        super().__init__(*args, **kwargs)
        self.fields["synthesizer"].choices = synthesizers
        unit = dataset.privacy_unit_column
        self.fields["columns"].choices = [
            (column.name, column.name)
            for column in dataset.columns.filter(removed_at__isnull=True).order_by("position", "name")
            if column.name != unit
        ]

    def values(self) -> dict[str, Any]:
        """What was typed, as the services take it."""
        data = self.data if self.is_bound else self.initial
        columns = data.getlist("columns") if hasattr(data, "getlist") else list(data.get("columns") or [])
        return {
            "synthesizer": str(data.get("synthesizer") or "")[:32],
            "columns": [str(name)[:200] for name in columns][:200],
            "epsilon": str(data.get("epsilon") or "").strip()[:64],
            "delta": str(data.get("delta") or "").strip()[:64],
            "rows": str(data.get("rows") or "").strip()[:20],
        }
