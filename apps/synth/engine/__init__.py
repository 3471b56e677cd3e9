"""The DP synthetic-data engine: pure domain code (no models of its own), see ``docs`` in each module.

- ``encoding``: columns → small discrete domains from the catalog's declarations only;
- ``marginals``: true counts computed in the backend (SQL, contributions bounded per privacy unit)
  or from a DataFrame;
- ``budget``: (epsilon, delta) → rho with OpenDP's conversion, OpenDP's measurements, the ledger of
  what they spent;
- ``mst``: the MST synthesizer (OpenDP noise, mbi estimation, mbi sampling with ``method="sample"``);
- ``memory``: refuse what would not fit, before any data is read;
- ``profile``: the noisy 1-way histograms of a dataset page; ``utility``: TVD against the real data.

Order of a run (``synthesize``): check the synthesizer, the parameters, the rows and the memory
estimate (public information only; a refusal reads nothing), then ask the source for counts, then
measure, estimate, sample and decode. ``spent`` is what OpenDP's maps of the measurements made add
up to; it equals ``synth_cost`` of the same parameters (and ``dp_profile``'s equals ``profile_cost``).
"""

from collections.abc import Callable
from decimal import Decimal

from apps.privacy.composition import PrivacyCost
from apps.synth.engine.base import ProfileResult, SynthCancelled, SynthesizerInfo, SynthRefused, SynthResult
from apps.synth.engine.budget import UnsoundNoise, check_parameters, rho_for
from apps.synth.engine.encoding import Encoding, encoding_for
from apps.synth.engine.marginals import BackendSource, FrameSource, MarginalSource, backend_source
from apps.synth.engine.memory import check_fits
from apps.synth.engine.mst import run_mst
from apps.synth.engine.profile import dp_profile
from apps.synth.engine.utility import utility_report

__all__ = [
    "DEFAULT_SYNTHESIZER",
    "NOT_OFFERED",
    "SYNTHESIZERS",
    "BackendSource",
    "Encoding",
    "FrameSource",
    "MarginalSource",
    "ProfileResult",
    "SynthCancelled",
    "SynthRefused",
    "SynthResult",
    "SynthesizerInfo",
    "backend_source",
    "check_fits",
    "dp_profile",
    "encoding_for",
    "profile_cost",
    "synth_cost",
    "synthesize",
    "utility_report",
]

DEFAULT_SYNTHESIZER = "mst"

SYNTHESIZERS: dict[str, SynthesizerInfo] = {
    "mst": SynthesizerInfo(
        name="mst",
        label="MST (maximum spanning tree of marginals)",
        description=(
            "Measures every column's histogram and the most informative pairs of columns (a spanning tree "
            "chosen privately), fits a graphical model to them and samples rows from it. Keeps 1-way and the "
            "measured 2-way distributions; relations among three or more columns only through the tree."
        ),
        privacy_note=(
            "zCDP: the (epsilon, delta) you ask for is converted to rho with OpenDP; a third of rho measures the "
            "1-way histograms, a third chooses the pairs (OpenDP's exponential mechanism), a third measures the "
            "pairs (OpenDP's Gaussian noise). Contributions are bounded per privacy unit; bins and categories "
            "are the owner's declarations, never read from the data."
        ),
    ),
}

NOT_OFFERED: dict[str, str] = {
    "aim": (
        "AIM is not offered yet: the portal's version (OpenDP noise, per-unit bounds, sampling that does not tie "
        "unrelated columns together) is not finished. smartnoise-synth's AIM samples with mbi's default rounding, "
        "which ties unrelated columns together."
    ),
    "mwem": (
        "MWEM is not offered: smartnoise-synth's MWEM picks its queries with an exponential mechanism computed in "
        "floating point and sampled with Python's random module (not a vetted DP sampler), re-drawing until it "
        "finds a query it has not measured, and its privacy accounting is per row, not per privacy unit."
    ),
    "patectgan": (
        "PATECTGAN is not offered: in smartnoise-synth 1.0.8 every teacher is the same discriminator object "
        "(teachers trained on disjoint data are what PATE's privacy argument needs), the noise on the teachers' "
        "votes is numpy's Laplace sampler rather than a vetted DP sampler, and at epsilon 1 it stops after a few "
        "training steps."
    ),
    "dpctgan": (
        "DPCTGAN is not offered: smartnoise-synth's DP-SGD (Opacus) accounts per row rather than per privacy "
        "unit, draws its noise with torch rather than a vetted DP sampler, and has a switch (disabled_dp) that "
        "turns DP off."
    ),
}


def _synthesizer(name: str) -> SynthesizerInfo:
    if name in SYNTHESIZERS:
        return SYNTHESIZERS[name]
    if name in NOT_OFFERED:
        raise SynthRefused(NOT_OFFERED[name], field="synthesizer")
    raise SynthRefused(f"Unknown synthesizer; choose one of: {', '.join(SYNTHESIZERS)}.", field="synthesizer")


def synth_cost(*, synthesizer: str, epsilon: Decimal, delta: Decimal) -> PrivacyCost:
    """What a synthesis costs (to reserve): rho-zCDP with the largest rho that OpenDP converts to at most
    (epsilon, delta). Exactly what ``synthesize`` spends with the same parameters."""
    _synthesizer(synthesizer)
    epsilon, delta = check_parameters(epsilon, delta)
    return PrivacyCost(rho=rho_for(epsilon, delta))


def profile_cost(*, epsilon: Decimal, delta: Decimal) -> PrivacyCost:
    """What ``dp_profile`` with these parameters costs (to reserve): exactly what it spends."""
    epsilon, delta = check_parameters(epsilon, delta)
    return PrivacyCost(rho=rho_for(epsilon, delta))


def synthesize(
    *,
    source: MarginalSource,
    encoding: Encoding,
    synthesizer: str,
    epsilon: Decimal,
    delta: Decimal,
    rows: int,
    progress: Callable[[str, float], None],
    should_stop: Callable[[], bool],
) -> SynthResult:
    """A DP synthetic sample of ``rows`` rows. Refusals (SynthRefused) happen before the source is asked
    for anything; ``should_stop()`` is checked between steps (SynthCancelled)."""
    info = _synthesizer(synthesizer)
    epsilon, delta = check_parameters(epsilon, delta)
    check_fits(encoding=encoding, synthesizer=info.name, rows=rows)
    charge = synth_cost(synthesizer=info.name, epsilon=epsilon, delta=delta)
    if should_stop():
        raise SynthCancelled("the synthesis was cancelled")
    frame, ledger, details = run_mst(
        source=source, encoding=encoding, rho=charge.rho, rows=rows, progress=progress, should_stop=should_stop
    )
    spent = ledger.spent
    if spent.rho > charge.rho:
        raise UnsoundNoise("the synthesis spent more than it was charged")
    progress("Done", 1.0)
    details.update(
        {
            "synthesizer": info.name,
            "epsilon": str(epsilon),
            "delta": str(delta),
            "rows": rows,
            "columns": encoding.describe(),
            "spent_rho": str(spent.rho),
        }
    )
    return SynthResult(frame=frame, spent=spent, details=details)
