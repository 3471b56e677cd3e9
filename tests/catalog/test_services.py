from decimal import Decimal

import pytest
from django.http import Http404

from apps.catalog.models import Column, Dataset
from apps.catalog.services import column_update, dataset_update, domain_update
from apps.core.errors import ApplicationError, Forbidden
from apps.domains.models import Sensitivity
from apps.usage.models import AuditEvent
from tests.factories import ColumnFactory, DatasetFactory, DomainFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def adult(hr):
    dataset = DatasetFactory(domain=hr, table_name="adult", address="hr.census.adult")
    ColumnFactory(dataset=dataset, name="person_id")
    ColumnFactory(dataset=dataset, name="age")
    ColumnFactory(dataset=dataset, name="sex", data_type="TEXT", logical_type=Column.LogicalType.STRING)
    return dataset


def test_alice_declares_bounds_and_the_change_is_audited_with_before_and_after(alice, adult):
    age = adult.columns.get(name="age")
    column_update(actor=alice, column=age, lower_bound="17", upper_bound=90)
    age.refresh_from_db()
    assert (age.lower_bound, age.upper_bound) == (Decimal(17), Decimal(90))
    event = AuditEvent.objects.get(action="column.update")
    assert event.actor == alice
    assert event.details == {"before": {"lower_bound": None, "upper_bound": None},
                             "after": {"lower_bound": "17", "upper_bound": "90"}}


def test_an_unchanged_declaration_writes_no_audit_row(alice, adult):
    age = adult.columns.get(name="age")
    column_update(actor=alice, column=age, lower_bound=17, upper_bound=90)
    column_update(actor=alice, column=age, lower_bound=17, upper_bound=90)
    assert AuditEvent.objects.filter(action="column.update").count() == 1


@pytest.mark.parametrize(
    ("lower", "upper", "message"),
    [
        (90, 17, "lower bound must be below"),
        (5, 5, "lower bound must be below"),
        ("NaN", 5, "finite number"),
        ("Infinity", 5, "finite number"),
        ("abc", 5, "must be a number"),
        (True, 5, "must be a number"),
        (1, None, "both bounds"),
        ("1e30", "2e30", "between -1e19 and 1e19"),
    ],
)
def test_it_refuses_bounds_that_do_not_make_sense(alice, adult, lower, upper, message):
    age = adult.columns.get(name="age")
    with pytest.raises(ApplicationError, match=message):
        column_update(actor=alice, column=age, lower_bound=lower, upper_bound=upper)
    age.refresh_from_db()
    assert age.lower_bound is None
    assert not AuditEvent.objects.exists()


def test_it_refuses_bounds_on_a_text_column(alice, adult):
    with pytest.raises(ApplicationError, match="numeric columns"):
        column_update(actor=alice, column=adult.columns.get(name="sex"), lower_bound=0, upper_bound=1)


def test_categories_must_be_unique_text(alice, adult):
    sex = adult.columns.get(name="sex")
    with pytest.raises(ApplicationError, match="unique"):
        column_update(actor=alice, column=sex, categories=["Male", "Male"])
    with pytest.raises(ApplicationError, match="list of strings"):
        column_update(actor=alice, column=sex, categories=[1, 2])
    column_update(actor=alice, column=sex, categories="Female\nMale\n")
    sex.refresh_from_db()
    assert sex.categories == ["Female", "Male"]


def test_declaring_dp_metadata_bumps_the_dataset_version(alice, adult):
    column_update(actor=alice, column=adult.columns.get(name="sex"), categories=["Female", "Male"])
    adult.refresh_from_db()
    assert adult.version == 2


def test_the_privacy_unit_must_be_a_column_of_the_dataset(alice, adult):
    with pytest.raises(ApplicationError, match="privacy unit must be one of the dataset's columns"):
        dataset_update(actor=alice, dataset=adult, privacy_unit_column="ssn")
    dataset_update(actor=alice, dataset=adult, privacy_unit_column="person_id", max_rows_per_unit="3")
    adult.refresh_from_db()
    assert (adult.privacy_unit_column, adult.max_rows_per_unit) == ("person_id", 3)


@pytest.mark.parametrize("rows", [0, -1, "many", 1.5, True, 10**9])
def test_it_refuses_a_maximum_of_rows_per_unit_that_is_not_a_positive_whole_number(alice, adult, rows):
    with pytest.raises(ApplicationError, match="max_rows_per_unit"):
        dataset_update(actor=alice, dataset=adult, max_rows_per_unit=rows)


def test_a_dataset_of_a_confidential_domain_cannot_be_made_open(alice, adult):
    with pytest.raises(ApplicationError, match="must stay confidential"):
        dataset_update(actor=alice, dataset=adult, sensitivity=Sensitivity.OPEN)


def test_making_a_domain_confidential_makes_its_datasets_confidential(admin_user):
    sales = DomainFactory(slug="sales")
    orders = DatasetFactory(domain=sales, row_count=100)
    domain_update(actor=admin_user, domain=sales, sensitivity=Sensitivity.CONFIDENTIAL)
    orders.refresh_from_db()
    assert orders.sensitivity == Sensitivity.CONFIDENTIAL
    assert orders.row_count is None


def test_making_a_domain_confidential_leaves_its_dp_synthetic_samples_as_they_are(admin_user):
    sales = DomainFactory(slug="sales")
    orders = DatasetFactory(domain=sales, row_count=100, sensitivity=Sensitivity.CONFIDENTIAL)
    sample = DatasetFactory(domain=sales, row_count=200, sensitivity=Sensitivity.OPEN,
                            kind=Dataset.Kind.SYNTHETIC, derived_from=orders)
    plain = DatasetFactory(domain=sales, row_count=50)

    domain_update(actor=admin_user, domain=sales, sensitivity=Sensitivity.CONFIDENTIAL)

    sample.refresh_from_db()
    plain.refresh_from_db()
    assert (sample.sensitivity, sample.row_count) == (Sensitivity.OPEN, 200)
    assert (plain.sensitivity, plain.row_count) == (Sensitivity.CONFIDENTIAL, None)


def test_bob_sees_hr_but_cannot_change_it_and_charlie_is_told_it_does_not_exist(bob, charlie, adult):
    with pytest.raises(Forbidden):
        dataset_update(actor=bob, dataset=adult, description="mine now")
    with pytest.raises(Http404):
        dataset_update(actor=charlie, dataset=adult, description="mine now")
    adult.refresh_from_db()
    assert adult.description == ""


def test_tags_are_normalised_and_deduplicated(alice, adult):
    dataset_update(actor=alice, dataset=adult, tags="Census, people ,census")
    assert sorted(adult.tags.values_list("name", flat=True)) == ["census", "people"]
