"""Which Celery queue a job goes to: one queue per kind of job, optionally per domain."""

from django.conf import settings


def queue_for(*, kind: str, domain_slug: str) -> str:
    if kind not in settings.PORTAL_JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    if domain_slug in settings.PORTAL_DOMAIN_QUEUES:
        return f"{kind}.{domain_slug}"
    return kind


def shared_queues() -> list[str]:
    """The queues a central worker serves: every kind, but no domain-private queue."""
    return ["default", *settings.PORTAL_JOB_KINDS]


def domain_queues(domain_slug: str) -> list[str]:
    """The queues a worker deployed inside one domain serves."""
    return [f"{kind}.{domain_slug}" for kind in settings.PORTAL_JOB_KINDS]
