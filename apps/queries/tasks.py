"""Celery entry points of DP query jobs: thin wrappers around the services. Nothing is returned to
Celery (no result backend); the job's row holds its state and answer."""

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def query_run_task(job_id: int) -> None:
    from apps.queries.services import query_run

    query_run(job_id=job_id)


@shared_task(acks_late=True, ignore_result=True)
def queries_sweep_task() -> None:
    from apps.queries.services import queries_sweep

    queries_sweep()
