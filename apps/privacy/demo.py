"""Demo mesh: a dataset-wide budget on the confidential census table and a DP policy for the
analysts group, so that bob can ask DP questions and make synthetic samples on first start."""

from django.contrib.auth.models import Group

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.privacy.models import DatasetBudget, Mechanism, Policy
from apps.privacy.services import dataset_budget_set, policy_save

DEMO_DATASET = "hr.census.adult"


def demo_privacy_load() -> bool:
    """Idempotent: sets what is missing and leaves what an admin changed alone. True if it set something."""
    dataset = Dataset.objects.filter(address=DEMO_DATASET).first()
    owner = User.objects.filter(username="alice").first()
    analysts = Group.objects.filter(name="analysts").first()
    if dataset is None or owner is None or analysts is None:
        return False
    changed = False
    if not DatasetBudget.objects.filter(dataset=dataset).exists():
        dataset_budget_set(actor=owner, dataset=dataset, epsilon_limit="50", delta_limit="0.00001")
        changed = True
    if not Policy.objects.filter(dataset=dataset, group=analysts).exists():
        policy_save(
            actor=owner,
            scope=dataset,
            group=analysts,
            epsilon_budget="5",
            delta_budget="0.000001",
            epsilon_per_release_cap="2",
            allowed_mechanisms=list(Mechanism.values),
        )
        changed = True
    return changed
