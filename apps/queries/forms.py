"""The query editor's form. It renders the fields and carries the raw text typed: the services
parse the amounts and compile the SQL, and their refusals come back as messages."""

from typing import Any

from django import forms

from apps.privacy.models import Mechanism

QUERY_MECHANISMS = [
    (Mechanism.LAPLACE.value, "Laplace (epsilon)"),
    (Mechanism.GAUSSIAN.value, "Gaussian (zCDP, rho)"),
]


def _amount(label: str, help_text: str) -> forms.CharField:
    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"})
    return forms.CharField(label=label, required=False, widget=widget, help_text=help_text)


class QueryForm(forms.Form):
    dataset = forms.CharField(widget=forms.HiddenInput)
    sql = forms.CharField(
        label="SQL",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(
            attrs={"rows": 7, "spellcheck": "false", "autocomplete": "off", "autocapitalize": "off", "class": "sql"}
        ),
    )
    mechanism = forms.ChoiceField(label="Mechanism", choices=QUERY_MECHANISMS, initial=Mechanism.LAPLACE.value)
    epsilon = _amount("Epsilon", "Privacy loss of the whole query; split across its aggregates.")
    rho = _amount("Rho", "zCDP privacy loss of the whole query.")
    delta = _amount("Delta", "Only for a GROUP BY on a column without declared categories (a DP key release).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"mechanism": Mechanism.LAPLACE.value, "epsilon": "0.5", "rho": "0.05"})
        super().__init__(*args, **kwargs)

    def values(self) -> dict[str, str]:
        """What was typed, as the services take it (amounts as text; empty means zero)."""
        data = self.data if self.is_bound else self.initial
        mechanism = str(data.get("mechanism") or Mechanism.LAPLACE.value)
        # Only the amount of the chosen mechanism counts; the other field keeps its text for a switch back.
        epsilon = str(data.get("epsilon") or "0").strip() if mechanism != Mechanism.GAUSSIAN else "0"
        rho = str(data.get("rho") or "0").strip() if mechanism == Mechanism.GAUSSIAN else "0"
        return {
            "sql": str(data.get("sql") or "")[:20_000],
            "mechanism": mechanism[:32],
            "epsilon": epsilon[:64],
            "rho": rho[:64],
            "delta": str(data.get("delta") or "0").strip()[:64],
        }
