"""How close a sample is to the real data: total variation distance of 1-way and 2-way marginals.

TVD(p, q) = 1/2 sum |p - q| over the cells of the encoding (declared bins and categories), between
the normalised counts of the sample and of the real data. The real counts come from the source (the
backend, contributions bounded as for the synthesis): the report is NOT differentially private and
is for the dataset's owners only.
"""

import itertools

import numpy as np
import pandas as pd

from apps.synth.engine.encoding import Encoding, encode_frame
from apps.synth.engine.marginals import MarginalSource


def tvd(real: np.ndarray, fake: np.ndarray) -> float | None:
    a, b = np.asarray(real, dtype=float).ravel(), np.asarray(fake, dtype=float).ravel()
    if a.sum() <= 0 or b.sum() <= 0:
        return None
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())


def _counts(codes: np.ndarray, shape: tuple[int, ...], columns: list[int]) -> np.ndarray:
    if not len(codes):
        return np.zeros(shape, dtype=np.int64)
    flat = np.ravel_multi_index([codes[:, i] for i in columns], shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def compare(encoding: Encoding, real: dict, sample_codes: np.ndarray) -> dict:
    names = encoding.names
    sizes = {c.name: c.size for c in encoding.columns}
    position = {n: i for i, n in enumerate(names)}
    one_way: dict[str, float | None] = {}
    for name in names:
        truth = real.get((name,))
        if truth is None:
            other = next(p for p in real if name in p and len(p) == 2)
            truth = real[other].sum(axis=1 - other.index(name))
        one_way[name] = tvd(truth, _counts(sample_codes, (sizes[name],), [position[name]]))
    two_way = []
    for a, b in itertools.combinations(names, 2):
        fake = _counts(sample_codes, (sizes[a], sizes[b]), [position[a], position[b]])
        two_way.append([a, b, tvd(real[(a, b)], fake)])
    return {
        "one_way": one_way,
        "two_way": two_way,
        "mean_one_way": _mean(list(one_way.values())),
        "mean_two_way": _mean([t for _, _, t in two_way]),
    }


def utility_report(*, source: MarginalSource, encoding: Encoding, sample: pd.DataFrame) -> dict:
    names = encoding.names
    cliques = list(itertools.combinations(names, 2)) or [(names[0],)]
    real = source.marginals(encoding, cliques)
    return compare(encoding, real, encode_frame(encoding, sample))
