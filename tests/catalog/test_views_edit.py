"""Owners edit the catalog in place: HTMX fragments, plain POST pages, 400s that name the problem."""

from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from django.urls import reverse

from apps.accounts.models import User
from apps.catalog.models import Column, Dataset
from apps.domains.models import Domain
from apps.usage.models import AuditEvent
from tests.catalog.test_views import adult_dataset, sqlite_backend_file
from tests.conftest import client_for
from tests.factories import DataProductFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
ADDRESS = "hr.census.adult"


@pytest.fixture
def hr_adult(hr: Domain, alice: User, tmp_path: Path) -> Dataset:
    product = DataProductFactory(domain=hr, slug="census", name="Census extract")
    product.owners.add(alice)
    return adult_dataset(hr, sqlite_backend_file(tmp_path / "hr.sqlite3"), product=product)


def column_url(dataset: Dataset, name: str, *, edit: bool = True) -> str:
    column = dataset.columns.get(name=name)
    return reverse("catalog:column_edit" if edit else "catalog:column", args=[dataset.address, column.pk])


def test_alice_gets_the_column_form_as_a_fragment(hr_adult: Dataset, alice: User) -> None:
    response = client_for(alice).get(column_url(hr_adult, "age"), **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<tr id="col-')
    assert 'name="lower_bound"' in body and 'value="17"' in body
    assert 'name="upper_bound"' in body and 'value="90"' in body
    assert "<html" not in body


def test_the_column_form_offers_no_bounds_for_a_text_column(hr_adult: Dataset, alice: User) -> None:
    body = client_for(alice).get(column_url(hr_adult, "occupation"), **HX).content.decode()
    assert 'name="lower_bound"' not in body
    assert "Adm-clerical\nCraft-repair" in body


def test_alice_edits_a_column_in_place_and_it_is_saved_and_audited(hr_adult: Dataset, alice: User) -> None:
    response = client_for(alice).post(
        column_url(hr_adult, "age"),
        {"description": "Age at the *census*.", "classification": "quasi_identifier", "tags": "demography, Age",
         "lower_bound": "16", "upper_bound": "99.5", "categories": ""},
        HTTP_X_REQUEST_ID="req-alice-1",
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<tr id="col-')
    assert "16 to 99.5" in body and "Saved" in body
    assert "<em>census</em>" in body
    column = hr_adult.columns.get(name="age")
    assert (column.lower_bound, column.upper_bound) == (Decimal("16"), Decimal("99.5"))
    assert sorted(t.name for t in column.tags.all()) == ["age", "demography"]
    event = AuditEvent.objects.get(action="column.update")
    assert event.actor == alice and event.request_id == "req-alice-1"
    assert event.details["after"]["lower_bound"] == "16"
    assert event.details["before"]["lower_bound"] == "17.0000000000"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"lower_bound": "90", "upper_bound": "17"}, "lower_bound", "The lower bound must be below the upper bound."),
        ({"lower_bound": "5", "upper_bound": "5"}, "lower_bound", "The lower bound must be below the upper bound."),
        ({"lower_bound": "abc", "upper_bound": "17"}, "lower_bound", "lower_bound must be a number."),
        ({"lower_bound": "1", "upper_bound": ""}, "lower_bound", "Declare both bounds, or neither."),
        ({"upper_bound": "NaN"}, "upper_bound", "upper_bound must be a finite number."),
        ({"categories": "a\nb\na"}, "categories", "Categories must be unique."),
        ({"classification": "secret"}, "classification", "classification must be one of"),
    ],
)
def test_an_invalid_column_edit_is_a_400_naming_the_problem_in_place(
    hr_adult: Dataset, alice: User, data: dict[str, str], field: str, message: str
) -> None:
    response = client_for(alice).post(column_url(hr_adult, "age"), data, **HX)
    body = unescape(response.content.decode())
    assert response.status_code == 400
    assert body.startswith('<tr id="col-')
    assert f'id="id_col{hr_adult.columns.get(name="age").pk}_{field}_error"' in body
    assert message in body
    column = hr_adult.columns.get(name="age")
    assert (column.lower_bound, column.upper_bound, column.categories) == (Decimal(17), Decimal(90), [])
    assert not AuditEvent.objects.filter(action="column.update").exists()


def test_bounds_on_a_text_column_are_refused(hr_adult: Dataset, alice: User) -> None:
    response = client_for(alice).post(
        column_url(hr_adult, "occupation"), {"lower_bound": "1", "upper_bound": "2"}, **HX
    )
    assert response.status_code == 400
    assert "Bounds can only be declared on numeric columns." in response.content.decode()


def test_alice_confirms_a_suggested_classification(hr_adult: Dataset, alice: User) -> None:
    response = client_for(alice).post(
        column_url(hr_adult, "occupation"), {"classification": "sensitive", "confirm_classification": "on"}, **HX
    )
    assert response.status_code == 200
    assert "suggested" not in response.content.decode()
    column = hr_adult.columns.get(name="occupation")
    assert column.classification_confirmed and column.classification == "sensitive"
    assert column.categories == ["Adm-clerical", "Craft-repair"]


def test_saving_a_description_does_not_confirm_a_suggestion_silently(hr_adult: Dataset, alice: User) -> None:
    client_for(alice).post(
        column_url(hr_adult, "occupation"), {"description": "Job.", "classification": "sensitive"}, **HX
    )
    column = hr_adult.columns.get(name="occupation")
    assert column.description == "Job." and not column.classification_confirmed


def test_changing_a_classification_confirms_it(hr_adult: Dataset, alice: User) -> None:
    client_for(alice).post(column_url(hr_adult, "occupation"), {"classification": "quasi_identifier"}, **HX)
    column = hr_adult.columns.get(name="occupation")
    assert column.classification == "quasi_identifier" and column.classification_confirmed


def test_alice_edits_the_dataset_description_tags_and_privacy_unit(hr_adult: Dataset, alice: User) -> None:
    response = client_for(alice).post(
        reverse("catalog:dataset_edit", args=[ADDRESS]),
        {"description": "One row per *person*.", "tags": "census, hr", "privacy_unit_column": "person_id",
         "max_rows_per_unit": "2"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<section id="about"')
    assert "One row per <em>person</em>." in body and "Saved." in body
    hr_adult.refresh_from_db()
    assert hr_adult.description == "One row per *person*."
    assert hr_adult.max_rows_per_unit == 2
    assert sorted(t.name for t in hr_adult.tags.all()) == ["census", "hr"]
    assert AuditEvent.objects.filter(action="dataset.update", actor=alice).count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"privacy_unit_column": "nobody"}, "privacy_unit_column", "The privacy unit must be one of the dataset's"),
        ({"max_rows_per_unit": "0"}, "max_rows_per_unit", "max_rows_per_unit must be between 1 and"),
        ({"max_rows_per_unit": "two"}, "max_rows_per_unit", "max_rows_per_unit must be a whole number."),
        ({"tags": "!!!"}, "tags", "A tag needs letters or digits."),
    ],
)
def test_an_invalid_dataset_edit_is_a_400_naming_the_problem(
    hr_adult: Dataset, alice: User, data: dict[str, str], field: str, message: str
) -> None:
    response = client_for(alice).post(reverse("catalog:dataset_edit", args=[ADDRESS]), data, **HX)
    body = unescape(response.content.decode())
    assert response.status_code == 400
    assert body.startswith('<form id="about"')
    assert f'id="id_{field}_error"' in body and message in body
    hr_adult.refresh_from_db()
    assert (hr_adult.privacy_unit_column, hr_adult.max_rows_per_unit) == ("person_id", 1)


def test_a_partial_post_leaves_the_other_fields_alone(hr_adult: Dataset, alice: User) -> None:
    client_for(alice).post(reverse("catalog:dataset_edit", args=[ADDRESS]), {"max_rows_per_unit": "3"}, **HX)
    hr_adult.refresh_from_db()
    assert (hr_adult.max_rows_per_unit, hr_adult.privacy_unit_column) == (3, "person_id")


def test_without_javascript_the_edit_form_is_a_page_and_saving_redirects_back(hr_adult: Dataset, alice: User) -> None:
    client = client_for(alice)
    url = column_url(hr_adult, "age")
    page = client.get(url)
    assert page.status_code == 200
    assert "<html" in page.content.decode() and "hx-post" not in page.content.decode()
    invalid = client.post(url, {"lower_bound": "9", "upper_bound": "1"})
    assert invalid.status_code == 400
    assert "<html" in invalid.content.decode()
    assert "The lower bound must be below the upper bound." in invalid.content.decode()
    saved = client.post(url, {"lower_bound": "0", "upper_bound": "120"})
    column = hr_adult.columns.get(name="age")
    assert saved.status_code == 302
    assert saved["Location"] == reverse("catalog:dataset", args=[ADDRESS]) + f"#col-{column.pk}"
    assert (column.lower_bound, column.upper_bound) == (Decimal(0), Decimal(120))


def test_the_display_fragments_give_back_the_unedited_part(hr_adult: Dataset, alice: User) -> None:
    client = client_for(alice)
    row = client.get(column_url(hr_adult, "age", edit=False), **HX).content.decode()
    assert row.startswith('<tr id="col-') and "17 to 90" in row
    about = client.get(reverse("catalog:dataset_about", args=[ADDRESS]), **HX).content.decode()
    assert about.startswith('<section id="about"')
    assert client.get(reverse("catalog:dataset_about", args=[ADDRESS])).status_code == 302


def test_bob_is_refused_every_edit_with_a_403(hr_adult: Dataset, bob: User) -> None:
    client = client_for(bob)
    urls = [
        column_url(hr_adult, "age"),
        reverse("catalog:dataset_edit", args=[ADDRESS]),
        reverse("catalog:product_edit", args=["hr", "census"]),
        reverse("catalog:domain_edit", args=["hr"]),
    ]
    for url in urls:
        assert client.get(url, **HX).status_code == 403, url
        response = client.post(url, {"description": "bob was here", "lower_bound": "0", "upper_bound": "1"}, **HX)
        assert response.status_code == 403, url
        assert "Only the owners" in response.content.decode()
    assert client.post(urls[0], {"description": "x"}).status_code == 403
    hr_adult.refresh_from_db()
    assert hr_adult.description == "" and hr_adult.domain.description == ""
    assert not Column.objects.filter(description="bob was here").exists()
    assert not AuditEvent.objects.filter(actor=bob, outcome="success").exists()


def test_bob_sees_display_fragments_without_edit_controls(hr_adult: Dataset, bob: User) -> None:
    row = client_for(bob).get(column_url(hr_adult, "age", edit=False), **HX)
    assert row.status_code == 200
    assert "/edit/" not in row.content.decode()


def test_a_product_owner_edits_the_product_description(hr_adult: Dataset, alice: User) -> None:
    response = client_for(alice).post(
        reverse("catalog:product_edit", args=["hr", "census"]), {"description": "New *text*.", "tags": "census"}, **HX
    )
    assert response.status_code == 200
    assert "New <em>text</em>." in response.content.decode()
    product = hr_adult.product
    product.refresh_from_db()
    assert product.description == "New *text*."
    assert AuditEvent.objects.filter(action="product.update", actor=alice).count() == 1


def test_the_domain_owner_edits_the_domain_description(hr_adult: Dataset, alice: User) -> None:
    url = reverse("catalog:domain_edit", args=["hr"])
    response = client_for(alice).post(url, {"description": "HR **data**."}, **HX)
    assert response.status_code == 200
    assert "HR <strong>data</strong>." in response.content.decode()
    assert AuditEvent.objects.filter(action="domain.update", actor=alice).count() == 1


def test_a_description_with_a_null_character_is_a_400(hr_adult: Dataset, alice: User) -> None:
    response = client_for(alice).post(reverse("catalog:domain_edit", args=["hr"]), {"description": "a\x00b"}, **HX)
    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()
