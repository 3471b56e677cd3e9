import sqlite3

import pytest

from apps.catalog.harvest_services import harvest_request
from apps.catalog.models import Dataset, HarvestRun
from apps.domains.models import Backend
from tests.e2e.workers import celery_worker, flush_broker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_backend(tmp_path, hr, alice):
    path = tmp_path / "staff.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE staff (person_id INTEGER, email TEXT, salary INTEGER)")
        db.execute("INSERT INTO staff VALUES (1, 'a@example.org', 100)")
    return Backend.objects.create(domain=hr, slug="people", kind=Backend.Kind.SQLITE, url=str(path))


def _finished(run: HarvestRun) -> bool:
    run.refresh_from_db()
    return run.is_finished


def test_a_real_worker_harvests_a_backend_and_a_second_harvest_changes_nothing(staff_backend, alice, tmp_path):
    flush_broker()
    with celery_worker("harvest", log_path=tmp_path / "worker.log"):
        first = harvest_request(actor=alice, backend=staff_backend)
        wait_until(lambda: _finished(first))
        second = harvest_request(actor=alice, backend=staff_backend)
        wait_until(lambda: _finished(second))

    assert first.status == HarvestRun.Status.SUCCEEDED, (tmp_path / "worker.log").read_text()[-3000:]
    assert first.progress == 100
    assert first.report["added"]
    staff = Dataset.objects.get(address="hr.people.staff")
    assert sorted(staff.columns.values_list("name", flat=True)) == ["email", "person_id", "salary"]
    assert staff.row_count is None
    assert second.status == HarvestRun.Status.SUCCEEDED
    assert not any(second.report.get(kind) for kind in ("added", "changed", "removed"))


def test_a_domain_with_its_own_queue_is_harvested_only_by_its_own_worker(staff_backend, alice, settings, tmp_path):
    settings.PORTAL_DOMAIN_QUEUES = ["hr"]
    flush_broker()
    with celery_worker("harvest", log_path=tmp_path / "shared.log"):
        run = harvest_request(actor=alice, backend=staff_backend)
        with pytest.raises(AssertionError):
            wait_until(lambda: _finished(run), timeout=4)
    assert run.status == HarvestRun.Status.QUEUED

    with celery_worker("harvest.hr", log_path=tmp_path / "hr.log"):
        wait_until(lambda: _finished(run))
    assert run.status == HarvestRun.Status.SUCCEEDED
