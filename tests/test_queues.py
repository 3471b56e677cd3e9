import pytest
from django.core.management import call_command

from apps.core.queues import queue_for


def test_jobs_go_to_the_queue_of_their_kind_by_default(settings):
    settings.PORTAL_DOMAIN_QUEUES = []
    assert queue_for(kind="harvest", domain_slug="hr") == "harvest"
    assert queue_for(kind="synthesis", domain_slug="hr") == "synthesis"


def test_a_domain_with_its_own_queues_gets_its_jobs_alone(settings):
    settings.PORTAL_DOMAIN_QUEUES = ["hr"]
    assert queue_for(kind="queries", domain_slug="hr") == "queries.hr"
    assert queue_for(kind="queries", domain_slug="sales") == "queries"


def test_it_refuses_an_unknown_kind_of_job():
    with pytest.raises(ValueError, match="unknown job kind"):
        queue_for(kind="mining", domain_slug="hr")


def test_worker_queues_command_lists_what_each_worker_serves(settings, capsys):
    settings.PORTAL_DOMAIN_QUEUES = ["hr"]
    call_command("worker_queues")
    assert capsys.readouterr().out.strip() == "default,harvest,queries,synthesis"
    call_command("worker_queues", "--domain", "hr")
    assert capsys.readouterr().out.strip() == "harvest.hr,queries.hr,synthesis.hr"
    call_command("worker_queues", "--all")
    assert capsys.readouterr().out.strip().endswith("synthesis,harvest.hr,queries.hr,synthesis.hr")
