"""Forms of the privacy pages. They render fields and carry the raw text typed: every rule (numbers,
ranges, modes, budgets below what was spent...) lives in the services and comes back as an
``ApplicationError`` attached to the field it names."""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import Group

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core.errors import ApplicationError
from apps.privacy.models import AccessMode, AccessRequest, Mechanism, Policy
from apps.privacy.services import DEFAULT_MECHANISMS

# The services name fields as their keyword arguments; a few are shown under another name here.
_FIELD_ALIASES = {"user": "subject", "group": "subject"}


def plain(value: Decimal | None) -> str:
    if value is None:
        return ""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def _amount(label: str, *, help_text: str = "") -> forms.CharField:
    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"})
    return forms.CharField(label=label, required=False, widget=widget, help_text=help_text)


def _mode(label: str = "Access mode", *, modes: list[AccessMode] | None = None) -> forms.CharField:
    choices = [(mode.value, mode.label) for mode in (modes or list(AccessMode))]
    return forms.CharField(label=label, required=False, widget=forms.Select(choices=choices))


class AnyMultipleChoiceField(forms.MultipleChoiceField):
    """Checkboxes whose values the service checks (so an unknown one gets the service's message)."""

    def valid_value(self, value: Any) -> bool:
        return True


class PrivacyForm(forms.Form):
    def add_application_error(self, exc: ApplicationError) -> None:
        field = _FIELD_ALIASES.get(exc.field or "", exc.field)
        self.add_error(field if field in self.fields else None, exc.message)


EXPIRY_HELP = "Optional; the grant ends at 00:00 UTC that day."


class PolicyForm(PrivacyForm):
    """Create (with ``subject`` and ``scope``) or change one policy."""

    subject = forms.CharField(label="User or group", required=False, widget=forms.Select)
    scope = forms.CharField(label="Applies to", required=False, widget=forms.Select)
    access_mode = _mode()
    epsilon_budget = _amount("Epsilon budget", help_text="Per user and dataset.")
    delta_budget = _amount("Delta budget", help_text="Below 1, e.g. 0.000001.")
    epsilon_per_release_cap = _amount("Per-release epsilon cap", help_text="Optional.")
    allowed_mechanisms = AnyMultipleChoiceField(
        label="Allowed mechanisms", required=False, choices=Mechanism.choices, widget=forms.CheckboxSelectMultiple
    )
    expires_at = forms.CharField(
        label="Expires on", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text=EXPIRY_HELP
    )

    def __init__(self, *args: Any, dataset: Dataset, policy: Policy | None = None, **kwargs: Any) -> None:
        self.dataset, self.policy = dataset, policy
        if policy is None:
            initial = {"access_mode": AccessMode.DP, "delta_budget": "0", "allowed_mechanisms": DEFAULT_MECHANISMS}
            kwargs.setdefault("auto_id", "id_new_%s")
        else:
            initial = {
                "access_mode": policy.access_mode,
                "epsilon_budget": plain(policy.epsilon_budget),
                "delta_budget": plain(policy.delta_budget),
                "epsilon_per_release_cap": plain(policy.epsilon_per_release_cap),
                "allowed_mechanisms": list(policy.allowed_mechanisms),
                "expires_at": policy.expires_at.date().isoformat() if policy.expires_at else "",
            }
            kwargs.setdefault("auto_id", f"id_policy{policy.pk}_%s")
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        if policy is not None:
            del self.fields["subject"], self.fields["scope"]
            return
        users = User.objects.filter(is_active=True).order_by("username").values_list("username", flat=True)
        groups = Group.objects.order_by("name").values_list("name", flat=True)
        self.fields["subject"].widget.choices = [
            ("", "Choose…"),
            ("Users", [(f"user:{name}", name) for name in users]),
            ("Groups", [(f"group:{name}", name) for name in groups]),
        ]
        scopes = [("dataset", f"This dataset ({dataset.address})")]
        if dataset.product_id:
            scopes.append(("product", f"Every dataset of the product {dataset.product.name}"))
        scopes.append(("domain", f"Every dataset of the domain {dataset.domain.name}"))
        self.fields["scope"].widget.choices = scopes

    def clean_subject(self) -> dict[str, Any]:
        if self.policy is not None:
            return {}
        kind, _, name = (self.cleaned_data.get("subject") or "").partition(":")
        found: User | Group | None = None
        if kind == "user":
            found = User.objects.filter(username=name, is_active=True).first()
        elif kind == "group":
            found = Group.objects.filter(name=name).first()
        if found is None:
            raise forms.ValidationError("Choose an active user or a group.")
        return {kind: found}

    def clean_scope(self) -> Any:
        scopes = {"dataset": self.dataset, "product": self.dataset.product, "domain": self.dataset.domain}
        scope = scopes.get(self.cleaned_data.get("scope") or "dataset")
        if scope is None:
            raise forms.ValidationError("Choose this dataset, its product or its domain.")
        return scope

    def clean_expires_at(self) -> Any:
        raw = self.cleaned_data.get("expires_at", "")
        unchanged = self.policy is not None and self.policy.expires_at and raw == self.initial.get("expires_at")
        # An expiry set through the API at a time of day survives an edit that leaves the date alone.
        return self.policy.expires_at if unchanged else raw

    def values(self) -> dict[str, Any]:
        """Keyword arguments of ``policy_save``."""
        data = self.cleaned_data
        values = {name: data[name] for name in ("access_mode", "epsilon_budget", "delta_budget")}
        values["epsilon_per_release_cap"] = data["epsilon_per_release_cap"] or None
        values["allowed_mechanisms"] = list(data["allowed_mechanisms"])
        values["expires_at"] = data["expires_at"] or None
        if self.policy is None:
            values.update(scope=data["scope"], **data["subject"])
        else:
            scope = self.policy.dataset or self.policy.product or self.policy.domain
            subject = {"user": self.policy.user} if self.policy.user_id else {"group": self.policy.group}
            values.update(scope=scope, **subject)
        return values


class DatasetBudgetForm(PrivacyForm):
    epsilon_limit = _amount("Epsilon limit", help_text="Across all users together.")
    delta_limit = _amount("Delta limit", help_text="Below 1, e.g. 0.00001.")

    def __init__(self, *args: Any, budget: Any = None, **kwargs: Any) -> None:
        if budget is not None:
            kwargs.setdefault(
                "initial", {"epsilon_limit": plain(budget.epsilon_limit), "delta_limit": plain(budget.delta_limit)}
            )
        else:
            kwargs.setdefault("initial", {"delta_limit": "0"})
        kwargs.setdefault("auto_id", "id_budget_%s")
        super().__init__(*args, **kwargs)


class AccessRequestForm(PrivacyForm):
    access_mode = _mode("Access", modes=[AccessMode.DP, AccessMode.SYNTHETIC, AccessMode.RAW])
    epsilon = _amount("Epsilon budget", help_text="The total epsilon budget you ask for on this dataset.")
    delta = _amount("Delta budget", help_text="Below 1; 0 unless you need Gaussian or threshold releases.")
    reason = forms.CharField(
        label="Reason",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What you want to do with the data, for the owners who decide.",
    )

    def __init__(self, *args: Any, current: Policy | None = None, **kwargs: Any) -> None:
        initial = {"access_mode": AccessMode.DP, "delta": "0"}
        if current is not None:
            initial.update(delta=plain(current.delta_budget))
            if current.access_mode != AccessMode.NONE:
                initial["access_mode"] = current.access_mode
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)


class DecisionForm(PrivacyForm):
    """Approve with the amounts the decider chooses (the requested ones by default), or deny."""

    access_mode = _mode()
    epsilon_budget = _amount("Epsilon budget")
    delta_budget = _amount("Delta budget")
    epsilon_per_release_cap = _amount("Per-release epsilon cap", help_text="Optional.")
    expires_at = forms.CharField(
        label="Expires on", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text=EXPIRY_HELP
    )
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Sent to the requester."
    )

    def __init__(self, *args: Any, request: AccessRequest, current: Policy | None = None, **kwargs: Any) -> None:
        initial: dict[str, Any] = {
            "access_mode": request.access_mode,
            "epsilon_budget": plain(request.epsilon),
            "delta_budget": plain(request.delta),
        }
        if current is not None and current.user_id == request.requester_id:
            initial["epsilon_per_release_cap"] = plain(current.epsilon_per_release_cap)
            initial["expires_at"] = current.expires_at.date().isoformat() if current.expires_at else ""
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)

    def approval(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "access_mode": data["access_mode"],
            "epsilon_budget": data["epsilon_budget"],
            "delta_budget": data["delta_budget"],
            "epsilon_per_release_cap": data["epsilon_per_release_cap"] or None,
            "expires_at": data["expires_at"] or None,
            "comment": data["comment"],
        }
