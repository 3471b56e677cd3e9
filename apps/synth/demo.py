"""Demo mesh: one DP synthetic sample of the census, made by bob, so that the catalog, the lineage
graph and the usage pages show a synthetic dataset derived from its confidential source."""

import logging

from apps.accounts.models import User
from apps.catalog.models import Dataset
from apps.core.errors import ApplicationError
from apps.synth.models import SynthJob
from apps.synth.services import synth_submit

logger = logging.getLogger(__name__)

DEMO_COLUMNS = ["age", "sex", "race", "education"]


def demo_sample_load() -> SynthJob | None:
    """Queue bob's 1,000-row MST sample of four census columns (epsilon 0.5 of his demo budget) once;
    a worker makes it. Nothing happens when he has made a sample already or may not."""
    dataset = Dataset.objects.filter(address="hr.census.adult").first()
    bob = User.objects.filter(username="bob").first()
    if dataset is None or bob is None:
        return None
    if SynthJob.objects.filter(owner=bob, dataset=dataset, purpose=SynthJob.Purpose.SAMPLE).exists():
        return None
    try:
        return synth_submit(actor=bob, dataset=dataset, columns=DEMO_COLUMNS, epsilon="0.5", rows=1000)
    except ApplicationError as refusal:
        logger.warning("demo: bob's sample of %s was not queued: %s", dataset.address, refusal.message)
        return None
