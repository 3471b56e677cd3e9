import pytest

from apps.accounts.models import User
from apps.catalog.demo import demo_mesh_load
from apps.catalog.models import Dataset
from apps.privacy.accountant import dataset_balance, usable_policy
from apps.privacy.demo import demo_privacy_load
from apps.privacy.models import LedgerEntry, Mechanism, Policy

pytestmark = pytest.mark.django_db


def test_the_demo_lets_bob_ask_dp_questions_and_make_samples_of_the_census_and_charlie_nothing(tmp_path):
    demo_mesh_load(password="demo-password-for-tests", demo_dir=tmp_path)
    assert demo_privacy_load() is True

    adult = Dataset.objects.get(address="hr.census.adult")
    bob, charlie = User.objects.get(username="bob"), User.objects.get(username="charlie")
    for mechanism in (Mechanism.LAPLACE, Mechanism.GAUSSIAN, Mechanism.SYNTHESIZER):
        assert usable_policy(user=bob, dataset=adult, mechanism=mechanism).epsilon_budget == 5
    assert dataset_balance(adult).limit.epsilon == 50
    assert not Policy.objects.filter(user=charlie).exists()
    assert not LedgerEntry.objects.exists(), "setting up the demo spends nothing"


def test_loading_the_demo_privacy_again_keeps_what_an_admin_changed(tmp_path):
    demo_mesh_load(password="demo-password-for-tests", demo_dir=tmp_path)
    demo_privacy_load()
    Policy.objects.filter(group__name="analysts").update(epsilon_budget=1)

    assert demo_privacy_load() is False
    assert Policy.objects.get(group__name="analysts").epsilon_budget == 1


def test_the_demo_queues_one_synthetic_sample_for_bob_charged_to_his_budget(tmp_path):
    from apps.synth.demo import demo_sample_load
    from apps.synth.models import SynthJob

    demo_mesh_load(password="demo-password-for-tests", demo_dir=tmp_path)
    demo_privacy_load()

    job = demo_sample_load()
    assert job is not None and job.status == SynthJob.Status.QUEUED and job.rows == 1000
    assert LedgerEntry.objects.filter(user__username="bob", kind=LedgerEntry.Kind.RESERVE).count() == 1
    assert demo_sample_load() is None, "loading the demo again queues nothing more"
