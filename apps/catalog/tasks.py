from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def harvest_backend_task(run_id: int) -> None:
    from apps.catalog.harvest_services import harvest_run

    harvest_run(run_id=run_id)
