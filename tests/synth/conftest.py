"""Shared fixtures of the synthetic-data tests (the engine's own tests, ``test_engine*.py``, use
``table_copy`` from here and are left out of the autouse fixtures below).

- ``adult``, ``funded_adult``, ``bob_policy``, ``adult_copy``: as in ``tests/queries/conftest.py``
  (hr.census.adult with the demo's declarations; a dataset budget of epsilon 10, delta 1e-5; bob's
  policy of epsilon 1, delta 1e-6 on it; a real backend holding given rows).
- ``census_rows``: 400 rows of the Adult extract the demo mesh ships (small, so a job takes a second).
- ``adult_backend``: ``funded_adult`` on a real SQLite backend holding ``census_rows``.
- ``synth_dir``: samples are written under a temporary ``PORTAL_SYNTH_DIR``.
"""

import csv
import gzip
import os
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from apps.catalog.demo_data.declarations import ADULT_COLUMNS, ADULT_INTEGER_COLUMNS
from apps.catalog.models import Dataset
from apps.synth import storage
from apps.synth.models import SynthJob
from apps.synth.services import synth_submit
from tests.queries.conftest import (  # noqa: F401 - fixtures
    adult,
    adult_copy,
    bob_policy,
    funded_adult,
    table_copy,
    tables_database,
)

# A small job's time is mostly XLA compiling mbi's model, again for every job (its shapes follow the
# noisy, compressed domains); at test sizes compiling without optimisations halves it. Set before JAX
# starts, so in-process jobs and the worker processes tests start (they inherit the environment) get it.
XLA_TEST_FLAGS = "--xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_TEST_FLAGS}".strip()

ADULT_CSV = Path(__file__).resolve().parents[2] / "apps" / "catalog" / "demo_data" / "adult.csv.gz"
COLUMNS = ["age", "sex", "salary"]


def read_census(limit: int) -> list[dict[str, Any]]:
    rows = []
    with gzip.open(ADULT_CSV, "rt", newline="") as handle:
        for index, record in enumerate(csv.DictReader(handle, skipinitialspace=True)):
            if index >= limit:
                break
            row: dict[str, Any] = {"person_id": index + 1}
            for name, source in ADULT_COLUMNS:
                value = (record.get(source) or "").strip()
                row[name] = (int(value) if value else None) if name in ADULT_INTEGER_COLUMNS else (value or None)
            rows.append(row)
    return rows


@pytest.fixture(scope="session")
def census_rows() -> list[dict[str, Any]]:
    return read_census(400)


def _engine_test(request: pytest.FixtureRequest) -> bool:
    """The engine's own tests (``test_engine*.py``) run the engine as it is, with their own fixtures."""
    return request.module.__name__.rsplit(".", 1)[-1].startswith("test_engine")


@pytest.fixture(autouse=True)
def synth_dir(request: pytest.FixtureRequest, settings, tmp_path: Path) -> Path:
    if not _engine_test(request):
        settings.PORTAL_SYNTH_DIR = str(tmp_path / "synth")
    return tmp_path / "synth"


@pytest.fixture
def adult_backend(funded_adult: Dataset, adult_copy, census_rows) -> Dataset:  # noqa: F811
    adult_copy("sqlite", census_rows)
    return Dataset.objects.get(pk=funded_adult.pk)


@pytest.fixture(autouse=True)
def fewer_estimation_iterations(request: pytest.FixtureRequest, monkeypatch) -> None:
    """MST's mirror descent runs 1,500 iterations by default; 3-column test samples need far fewer.
    (Post-processing of the same DP measurements: privacy and cost are unchanged.) Not for the
    engine's own tests."""
    import inspect
    from functools import partial

    from apps.synth import engine

    if _engine_test(request):
        return

    run_mst = getattr(engine, "run_mst", None)
    if run_mst is not None and "iterations" in inspect.signature(run_mst).parameters:
        monkeypatch.setattr(engine, "run_mst", partial(run_mst, iterations=150))


def queued_job(bob, dataset) -> SynthJob:
    return synth_submit(actor=bob, dataset=dataset, synthesizer="mst", columns=COLUMNS, epsilon="0.5",
                        delta="0.000001", rows=100)  # fmt: skip


def finished_by_hand(job: SynthJob, *, catalogued: bool = False) -> SynthJob:
    """The stored state of a finished job (the run itself is tested in test_jobs and test_api); with
    ``catalogued``, its sample's catalog entry too."""
    import pandas as pd

    from apps.synth.services import _output_dataset

    frame = pd.DataFrame({"age": [30, 41], "sex": ["Male", "Female"], "salary": [">50K", "<=50K"]})
    storage.sample_write(job.pk, frame)
    SynthJob.objects.filter(pk=job.pk).update(
        status=SynthJob.Status.SUCCEEDED, sample_rows=2, progress=1, finished_at=timezone.now(),
        details={"estimation_iterations": 150},
        utility={"one_way": {"age": 0.05, "sex": 0.01, "salary": 0.02},
                 "two_way": [["age", "sex", 0.07], ["age", "salary", 0.3], ["sex", "salary", 0.02]],
                 "mean_one_way": 0.0267, "mean_two_way": 0.13},
    )  # fmt: skip
    job = SynthJob.objects.get(pk=job.pk)
    if catalogued:
        SynthJob.objects.filter(pk=job.pk).update(output=_output_dataset(job, frame))
        job = SynthJob.objects.get(pk=job.pk)
    return job
