"""Where synthetic samples live: one Parquet file per job under ``PORTAL_SYNTH_DIR`` (default
``<PORTAL_VAR_DIR>/synth``). A file is addressed by the job's id only, never by a name a user gave,
so no request can reach another path. CSV is produced from the Parquet file at download time, with
cells a spreadsheet would run as formulas escaped."""

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from apps.core.csv import csv_cell


def synth_dir() -> Path:
    configured = getattr(settings, "PORTAL_SYNTH_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "synth"


def sample_path(job_id: int) -> Path:
    if not isinstance(job_id, int) or isinstance(job_id, bool) or job_id <= 0:
        raise ValueError("a sample is addressed by its job's id")
    return synth_dir() / f"sample-{job_id}.parquet"


def sample_write(job_id: int, frame: pd.DataFrame) -> Path:
    """Write atomically (a temporary file renamed into place)."""
    path = sample_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), temporary)
    os.replace(temporary, path)
    return path


def sample_delete(job_id: int) -> None:
    sample_path(job_id).unlink(missing_ok=True)


def sample_exists(job_id: int) -> bool:
    return sample_path(job_id).is_file()


def sample_readable(job_id: int) -> bool:
    """The sample's file is there and is a Parquet file (its footer reads)."""
    try:
        pq.read_metadata(sample_path(job_id))
    except (OSError, pa.ArrowException):
        return False
    return True


def sample_read(job_id: int, *, limit: int | None = None) -> pd.DataFrame:
    table = pq.read_table(sample_path(job_id))
    if limit is not None:
        table = table.slice(0, limit)
    return table.to_pandas()


def parquet_bytes(job_id: int) -> bytes:
    return sample_path(job_id).read_bytes()


def csv_chunks(job_id: int, *, batch_rows: int = 5000) -> Iterator[str]:
    """The sample as CSV, a batch of rows at a time (a large sample is never held as one string)."""
    parquet = pq.ParquetFile(sample_path(job_id))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in parquet.schema_arrow.names])
    for batch in parquet.iter_batches(batch_size=batch_rows):
        columns = [column.to_pylist() for column in batch.columns]
        for row in zip(*columns, strict=True):
            writer.writerow([csv_cell(value) for value in row])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    rest = out.getvalue()
    if rest:
        yield rest
