"""Will a configuration fit in a worker? Answered from public metadata only, before any data is read.

The estimate, in bytes, for MST on d encoded columns of sizes n_1..n_d and ``rows`` rows to sample:

- the true and compressed counts of every candidate pair, held for the pair selection:
  ``PAIR_BYTES`` x sum over pairs of n_a * n_b;
- the graphical model (JAX potentials, marginals, gradients and line-search copies of each chosen
  pair, at most the largest pair per edge): ``MODEL_BYTES`` x (d - 1) x max pair cells;
- the sample (codes, expanded codes, decoded values and sampling temporaries):
  ``ROW_BYTES`` x rows x d.

The limit is ``PORTAL_SYNTH_MAX_MODEL_MIB`` (default 2048 MiB) and at most
``PORTAL_SYNTH_MAX_ROWS`` rows (default 1,000,000) may be asked for.
"""

import itertools
import math
import numbers

from django.conf import settings

from apps.synth.engine.base import SynthRefused
from apps.synth.engine.encoding import Encoding

PAIR_BYTES = 32
MODEL_BYTES = 160
ROW_BYTES = 96
DEFAULT_LIMIT_MIB = 2048
DEFAULT_MAX_ROWS = 1_000_000


def estimate_bytes(*, encoding: Encoding, rows: int) -> int:
    sizes = encoding.sizes
    d = len(sizes)
    pairs = [a * b for a, b in itertools.combinations(sizes, 2)] or [sizes[0] if sizes else 0]
    model = MODEL_BYTES * max(1, d - 1) * max(pairs)
    return PAIR_BYTES * sum(pairs) + model + ROW_BYTES * int(rows) * d


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB" if value >= 2**28 else f"{math.ceil(value / 2**20)} MiB"


def check_fits(*, encoding: Encoding, synthesizer: str, rows: int) -> None:
    """SynthRefused naming the estimate and the limit when the configuration would not fit."""
    if isinstance(rows, bool) or not isinstance(rows, numbers.Integral) or rows < 1:
        raise SynthRefused("rows must be a positive whole number.", field="rows")
    rows = int(rows)
    max_rows = int(getattr(settings, "PORTAL_SYNTH_MAX_ROWS", DEFAULT_MAX_ROWS))
    if rows > max_rows:
        raise SynthRefused(f"At most {max_rows:,} rows can be generated at once.", field="rows")
    limit = int(getattr(settings, "PORTAL_SYNTH_MAX_MODEL_MIB", DEFAULT_LIMIT_MIB)) * 2**20
    need = estimate_bytes(encoding=encoding, rows=rows)
    if need > limit:
        widest = max(encoding.columns, key=lambda c: c.size)
        raise SynthRefused(
            f"This {synthesizer.upper()} configuration would need ~{_gib(need)}; the limit is {_gib(limit)}. "
            f"Pick fewer columns (the widest is {widest.name}, {widest.size} codes) or fewer rows."
        )
