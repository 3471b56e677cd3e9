from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def usage_rollup_task() -> None:
    """Beat: roll up the finished days not rolled up yet, and today so far (idempotent)."""
    from apps.usage.rollup import usage_rollup

    usage_rollup()
