import pytest

from apps.privacy.services import dataset_budget_set, policy_save
from tests.factories import ColumnFactory, DatasetFactory, UserFactory


@pytest.fixture
def adult(hr):
    dataset = DatasetFactory(domain=hr, table_name="adult", address="hr.census.adult")
    ColumnFactory(dataset=dataset, name="age")
    return dataset


@pytest.fixture
def funded_adult(adult, alice):
    """hr.census.adult with a dataset-wide budget of epsilon 10, delta 1e-5."""
    dataset_budget_set(actor=alice, dataset=adult, epsilon_limit="10", delta_limit="0.00001")
    return adult


@pytest.fixture
def bob_policy(funded_adult, alice, bob):
    return policy_save(actor=alice, scope=funded_adult, user=bob, epsilon_budget="1", delta_budget="0.000001")


@pytest.fixture
def dave(db, hr):
    """A second analyst, for budgets shared between users."""
    user = UserFactory(username="dave")
    user.groups.add(hr.visible_to_groups.first())
    return user
