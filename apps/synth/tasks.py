"""Celery entry points of synthetic-data jobs: thin wrappers around the services. Nothing is
returned to Celery (no result backend); the job's row holds its state, the sample is a file."""

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def synth_run_task(job_id: int) -> None:
    from apps.synth.services import synth_run

    synth_run(job_id=job_id)


@shared_task(acks_late=True, ignore_result=True)
def synth_sweep_task() -> None:
    from apps.synth.services import synth_sweep

    synth_sweep()
