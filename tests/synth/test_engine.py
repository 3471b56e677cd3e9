"""The DP synthesizer engine on data in memory: encoding, refusals, accounting, samples, progress.

One MST run (module fixture ``mst_run``, 3 columns, data with outliers and undeclared categories)
serves the sample tests: JAX compiles the model once per run, which costs seconds.
"""

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from apps.catalog.models import Column
from apps.privacy.composition import PrivacyCost, zcdp_to_epsilon
from apps.synth.engine import (
    NOT_OFFERED,
    SYNTHESIZERS,
    FrameSource,
    SynthCancelled,
    SynthRefused,
    dp_profile,
    encoding_for,
    profile_cost,
    synth_cost,
    synthesize,
    utility_report,
)
from apps.synth.engine.budget import rho_for
from apps.synth.engine.encoding import Encoding, column_code, decode
from tests.factories import ColumnFactory, DatasetFactory

EPSILON, DELTA = Decimal(1), Decimal("1e-6")
CITIES = ["north", "south", "east"]


def _column(name: str, logical_type: str, **declared: Any) -> Column:
    return Column(name=name, logical_type=logical_type, data_type=logical_type.upper(), **declared)


def _encoding() -> Encoding:
    return Encoding(
        (
            column_code(_column("age", "integer", lower_bound=Decimal(18), upper_bound=Decimal(65), nullable=True)),
            column_code(
                _column("income", "float", lower_bound=Decimal("0.5"), upper_bound=Decimal(1000), nullable=False)
            ),
            column_code(_column("city", "string", categories=CITIES, nullable=True)),
        )
    )


def _frame(rows: int = 600) -> pd.DataFrame:
    """Data that breaks every declaration: outliers, undeclared categories, NULLs."""
    rng = np.random.default_rng(7)
    age = rng.integers(0, 120, rows).astype(float)
    age[::17] = np.nan
    income = rng.normal(500, 800, rows)
    income[::23] = np.nan
    city = rng.choice([*CITIES, "atlantis", "Zanzibar-4711"], rows).astype(object)
    city[::11] = None
    return pd.DataFrame({"age": age, "income": income, "city": city})


class Counting(FrameSource):
    """A source that records whether anything was asked of it."""


@pytest.fixture(scope="module")
def mst_run() -> dict[str, Any]:
    encoding = _encoding()
    source = FrameSource(_frame())
    phases: list[tuple[str, float]] = []
    result = synthesize(
        source=source, encoding=encoding, synthesizer="mst", epsilon=EPSILON, delta=DELTA, rows=3000,
        progress=lambda phase, fraction: phases.append((phase, fraction)), should_stop=lambda: False,
    )  # fmt: skip
    return {"result": result, "phases": phases, "encoding": encoding, "source": source, "calls": source.calls}


def test_a_sample_holds_only_declared_categories(mst_run) -> None:
    frame = mst_run["result"].frame
    assert set(frame["city"].dropna()) <= set(CITIES)
    assert "Zanzibar-4711" not in set(frame["city"].dropna())


def test_a_sample_holds_no_value_outside_the_declared_bounds(mst_run) -> None:
    frame = mst_run["result"].frame
    ages = frame["age"].dropna().astype(int)
    assert ages.between(18, 65).all()
    assert frame["income"].notna().all(), "income is not nullable: the sample has no missing income"
    assert frame["income"].between(0.5, 1000).all()


def test_a_sample_has_the_rows_asked_for_not_the_true_row_count(mst_run) -> None:
    assert len(mst_run["result"].frame) == 3000
    assert list(mst_run["result"].frame.columns) == ["age", "income", "city"]


def test_the_charge_equals_what_the_measurements_spent(mst_run) -> None:
    spent = mst_run["result"].spent
    charged = synth_cost(synthesizer="mst", epsilon=EPSILON, delta=DELTA)
    assert spent == charged
    assert charged == PrivacyCost(rho=charged.rho) and charged.rho > 0
    assert zcdp_to_epsilon(charged.rho, DELTA) <= EPSILON


def test_the_charged_rho_is_the_largest_opendp_converts_to_at_most_epsilon() -> None:
    rho = rho_for(Decimal("0.5"), Decimal("1e-5"))
    assert zcdp_to_epsilon(rho, Decimal("1e-5")) <= Decimal("0.5")
    assert zcdp_to_epsilon(rho + Decimal("1e-12"), Decimal("1e-5")) > Decimal("0.5")


def test_progress_is_reported_in_order_up_to_done(mst_run) -> None:
    phases = mst_run["phases"]
    fractions = [f for _, f in phases]
    assert fractions == sorted(fractions)
    assert phases[-1] == ("Done", 1.0)
    names = [p for p, _ in phases]
    for phase in ("Computing marginals in the backend", "Measuring the 1-way marginals", "Fitting the model",
                  "Sampling the rows"):  # fmt: skip
        assert phase in names


def test_a_synthesis_asks_the_source_once(mst_run) -> None:
    assert mst_run["calls"] == 1


def test_the_details_publish_parameters_only(mst_run) -> None:
    details = mst_run["result"].details
    assert details["synthesizer"] == "mst" and details["rows"] == 3000
    assert len(details["pairs"]) == 2
    assert "600" not in str(details), "the true row count is not published"


def test_a_cancelled_synthesis_stops_before_fitting() -> None:
    calls: list[str] = []
    with pytest.raises(SynthCancelled):
        synthesize(
            source=FrameSource(_frame(100)), encoding=_encoding(), synthesizer="mst", epsilon=EPSILON, delta=DELTA,
            rows=10, progress=lambda phase, _: calls.append(phase), should_stop=lambda: len(calls) >= 2,
        )  # fmt: skip
    assert "Fitting the model" not in calls


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"synthesizer": "patectgan"}, "same discriminator"),
        ({"synthesizer": "nonsense"}, "Unknown synthesizer"),
        ({"epsilon": Decimal("NaN")}, "epsilon must be a positive"),
        ({"epsilon": Decimal(0)}, "epsilon must be a positive"),
        ({"delta": Decimal(1)}, "delta must be below 1"),
        ({"rows": 0}, "rows must be a positive"),
        ({"rows": 10**9}, "rows can be generated"),
    ],
)
def test_a_refused_configuration_asks_nothing_of_the_source(change: dict, message: str) -> None:
    source = Counting(_frame(50))
    arguments = {"synthesizer": "mst", "epsilon": EPSILON, "delta": DELTA, "rows": 100, **change}
    with pytest.raises(SynthRefused, match=message):
        synthesize(source=source, encoding=_encoding(), progress=lambda *_: None, should_stop=lambda: False,
                   **arguments)  # fmt: skip
    assert source.calls == 0


def test_a_configuration_too_big_for_the_memory_limit_is_refused_before_reading(settings) -> None:
    settings.PORTAL_SYNTH_MAX_MODEL_MIB = 1
    source = Counting(_frame(50))
    with pytest.raises(SynthRefused, match=r"would need ~\d+ MiB; the limit is 1 MiB. Pick fewer columns"):
        synthesize(source=source, encoding=_encoding(), synthesizer="mst", epsilon=EPSILON, delta=DELTA,
                   rows=50_000, progress=lambda *_: None, should_stop=lambda: False)  # fmt: skip
    assert source.calls == 0


def test_only_mst_is_offered_and_the_others_say_why() -> None:
    assert list(SYNTHESIZERS) == ["mst"]
    assert {"patectgan", "dpctgan", "mwem", "aim"} <= set(NOT_OFFERED)
    assert all(len(reason) > 40 for reason in NOT_OFFERED.values())


def test_decoding_never_leaves_the_declared_bounds() -> None:
    encoding = Encoding(
        (
            column_code(_column("x", "float", lower_bound=Decimal("0.1"), upper_bound=Decimal("0.3"), nullable=False)),
            column_code(_column("n", "integer", lower_bound=Decimal("-2.5"), upper_bound=Decimal(1000), nullable=True)),
        )
    )
    x, n = encoding.columns
    codes = {"x": np.repeat(np.arange(x.size), 500), "n": np.resize(np.arange(n.size), x.size * 500)}
    frame = decode(encoding, codes)
    assert frame["x"].between(0.1, 0.3).all()
    assert frame["n"].dropna().between(-2, 1000).all()
    assert frame["n"].isna().sum() == (codes["n"] == n.size - 1).sum()


def test_small_integer_ranges_are_encoded_exactly_and_wide_ones_in_bins() -> None:
    small = column_code(_column("s", "integer", lower_bound=Decimal(1), upper_bound=Decimal(16), nullable=False))
    wide = column_code(_column("w", "integer", lower_bound=Decimal(0), upper_bound=Decimal(1_500_000), nullable=True))
    assert small.labels == [str(i) for i in range(1, 17)]
    assert wide.size <= 17 and wide.labels[-1] == "(missing)"
    assert wide.labels[0] == "0-93750"


def test_the_dp_profile_is_a_noisy_histogram_over_the_declared_labels() -> None:
    encoding = _encoding()
    profile = dp_profile(source=FrameSource(_frame()), encoding=encoding, epsilon=EPSILON, delta=DELTA)
    assert profile.histograms["city"]["labels"] == [*CITIES, "(missing)"]
    assert all(c >= 0 for h in profile.histograms.values() for c in h["counts"])
    assert len(profile.histograms["age"]["counts"]) == len(profile.histograms["age"]["labels"])
    assert profile.spent == profile_cost(epsilon=EPSILON, delta=DELTA) == PrivacyCost(rho=rho_for(EPSILON, DELTA))


def test_the_utility_report_is_zero_for_the_real_data_and_positive_for_a_sample(mst_run) -> None:
    source, encoding = mst_run["source"], mst_run["encoding"]
    real = _frame()
    real = real[real["income"].notna()]
    same = utility_report(source=source, encoding=encoding, sample=real)
    assert same["mean_one_way"] == pytest.approx(0, abs=1e-12)
    report = utility_report(source=source, encoding=encoding, sample=mst_run["result"].frame)
    assert 0 < report["mean_two_way"] < 1
    assert {tuple(pair[:2]) for pair in report["two_way"]} == {("age", "income"), ("age", "city"), ("income", "city")}


# --- from the catalog ---------------------------------------------------------------------------


@pytest.fixture
def census(hr) -> Any:
    dataset = DatasetFactory(domain=hr, privacy_unit_column="person_id")
    ColumnFactory(dataset=dataset, name="person_id", position=0, is_unique=True, nullable=False,
                  classification=Column.Classification.IDENTIFIER)  # fmt: skip
    ColumnFactory(dataset=dataset, name="age", position=1, lower_bound=Decimal(17), upper_bound=Decimal(90))
    ColumnFactory(dataset=dataset, name="sex", position=2, logical_type="string", data_type="TEXT",
                  categories=["Female", "Male"])  # fmt: skip
    ColumnFactory(dataset=dataset, name="hours", position=3)  # integer, no bounds declared
    ColumnFactory(dataset=dataset, name="comment", position=4, logical_type="string", data_type="TEXT")
    ColumnFactory(dataset=dataset, name="born", position=5, logical_type="date", data_type="DATE")
    return dataset


def test_encoding_every_column_takes_those_with_declarations_and_never_the_unit(census) -> None:
    encoding = encoding_for(dataset=census, column_names=None)
    assert encoding.names == ["age", "sex"]


def test_a_column_without_metadata_is_refused_with_what_its_owner_must_declare(census) -> None:
    with pytest.raises(SynthRefused) as refused:
        encoding_for(dataset=census, column_names=["age", "hours", "comment", "born"])
    message = refused.value.message
    assert "hours: its owner must declare its lower and upper bounds" in message
    assert "comment: its owner must declare its list of categories" in message
    assert "born: date columns cannot be synthesized" in message
    assert "age" not in message.replace("leave it out", "")


def test_the_privacy_unit_and_unknown_columns_are_refused_by_name(census) -> None:
    with pytest.raises(SynthRefused, match="person_id is the privacy unit column: it is never synthesized") as refused:
        encoding_for(dataset=census, column_names=["person_id", "salary"])
    assert "salary is not a column of this dataset" in refused.value.message


def test_a_dataset_without_a_privacy_unit_is_refused(census) -> None:
    census.privacy_unit_column = ""
    with pytest.raises(SynthRefused, match="declares no privacy unit"):
        encoding_for(dataset=census, column_names=None)
