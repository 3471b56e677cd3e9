"""Forms of the backend pages: they parse input; the services validate and decide."""

from django import forms

from apps.domains.models import Backend


class BackendRegisterForm(forms.Form):
    kind = forms.ChoiceField(choices=Backend.Kind.choices)
    slug = forms.SlugField(
        max_length=63, help_text="Short name, the second part of its dataset addresses (e.g. census)."
    )
    url = forms.CharField(
        label="URL or path",
        max_length=1000,
        help_text="postgresql://user@host:5432/db, an absolute path to a SQLite or DuckDB file, a folder of "
        "Parquet/CSV files, or any SQLAlchemy URL.",
    )
    password = forms.CharField(
        required=False,
        max_length=1000,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again.",
    )


class BackendUpdateForm(forms.Form):
    url = forms.CharField(label="URL or path", max_length=1000)
    password = forms.CharField(
        required=False,
        max_length=1000,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(required=False, label="Remove the stored password")
