"""DP synthetic data: the portal's MST against smartnoise-synth's MST and an independent baseline.

    .venv/bin/python bench/synth.py              # everything (about 15 minutes on 2 shared cores)
    .venv/bin/python bench/synth.py --reuse      # keep the 1,000,000-row PostgreSQL table if loaded
    .venv/bin/python bench/synth.py --skip-smartnoise

At epsilon 1, delta 1e-6, on two data sets:

- ``adult``: ``/work/shared/data/adult.csv`` (32,561 rows, 15 columns; ``?`` is missing), declared as
  the demo mesh declares hr.census.adult (``apps/catalog/demo_data/declarations.py``);
- ``gen50k``: 50,000 rows x 12 columns generated with known dependencies (region -> segment -> age
  -> education -> hours, age -> married -> children, segment/education -> income, score/segment ->
  churn; sex and race independent of everything).

Three ways to synthesize as many rows as the data has:

- ``portal``: the portal's MST (``apps.synth.engine.synthesize`` on an in-memory source);
- ``smartnoise``: smartnoise-synth 1.0.8's MST used the plain way: ``Synthesizer.create("mst",
  epsilon=1.0, delta=1e-6)``, ``fit(df, preprocessor_eps=0.1)`` (its transformer needs budget to infer
  the bounds of continuous columns; categories it reads from the data), ``sample(n)``;
- ``independent``: every column shuffled independently (not DP: a reference for "no dependency kept").

Then the scale run: the same generator's 1,000,000 rows in a PostgreSQL table (database
``portal_bench_synth``; ``person_id`` is its primary key) synthesized through ``backend_source``
(counts computed by GROUP BY GROUPING SETS in PostgreSQL; no row comes into the worker), sampling
50,000 rows, compared with the 50k in-memory run.

Each configuration runs in a fresh process: time is fit + sample (no imports, no data loading) and
peak memory is that process's peak RSS (imports of JAX, torch and pandas included). TVD is measured
on the portal's encoding of each data set (the declared bins and categories): mean over columns of
the 1-way TVD and mean over all column pairs of the 2-way TVD, against the real data.
"""

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from apps.catalog.demo_data.declarations import (  # noqa: E402
    ADULT_BOUNDS,
    ADULT_CATEGORIES,
    ADULT_COLUMNS,
    ADULT_INTEGER_COLUMNS,
)
from apps.catalog.models import Column  # noqa: E402
from apps.synth.engine.encoding import Encoding, column_code, encode_frame  # noqa: E402

ADULT_CSV = Path("/work/shared/data/adult.csv")
EPSILON, DELTA = Decimal(1), Decimal("1e-6")
PREPROCESSOR_EPS = 0.1
BENCH_DB = "portal_bench_synth"
BIG_ROWS = 1_000_000
TARGET_TVD2_50K = 0.035
TARGET_BIG_TIME_RATIO = 3.0
TARGET_BIG_GIB = 2.5

REGIONS = ["north", "south", "east", "west", "central"]
SEGMENTS = ["retail", "smb", "corporate", "public"]
EDUCATION = ["none", "primary", "lower-secondary", "secondary", "vocational", "bachelor", "master", "doctorate"]
RACES = ["white", "black", "asian", "native", "other"]


# --------------------------------------------------------------------------- data and declarations


def _column(name: str, logical: str, **declared: Any) -> Column:
    return Column(name=name, logical_type=logical, data_type=logical.upper(), **declared)


def adult() -> tuple[pd.DataFrame, pd.DataFrame, Encoding]:
    """(the CSV as it is, the same with the portal's column names and ``?`` as missing, the encoding)."""
    raw = pd.read_csv(ADULT_CSV, skipinitialspace=True)
    frame = raw.rename(columns={csv: name for name, csv in ADULT_COLUMNS}).replace("?", np.nan)
    codes = []
    for name, _ in ADULT_COLUMNS:
        low, high = ADULT_BOUNDS.get(name, (None, None))
        logical = "integer" if name in ADULT_INTEGER_COLUMNS else "string"
        codes.append(column_code(_column(name, logical, lower_bound=low, upper_bound=high, nullable=True,
                                         categories=ADULT_CATEGORIES.get(name, []))))  # fmt: skip
    return raw, frame, Encoding(tuple(codes))


def generated(rows: int, seed: int = 2026) -> pd.DataFrame:
    """Rows with known dependencies (bench data only: numpy's generator is fine here)."""
    rng = np.random.default_rng(seed)
    region = rng.choice(5, rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    segment = (region + rng.choice(4, rows, p=[0.6, 0.2, 0.1, 0.1])) % 4
    age = np.clip(np.rint(rng.normal(28 + 9 * segment, 9)), 18, 90).astype(int)
    education = np.clip((age - 18) // 7 + rng.integers(-1, 2, rows), 0, 7)
    income = np.clip(rng.lognormal(10 + 0.2 * segment + 0.15 * education, 0.35), 0, 200_000)
    sex = rng.choice(2, rows)
    race = rng.choice(5, rows, p=[0.6, 0.15, 0.12, 0.08, 0.05])
    hours = np.clip(np.rint(rng.normal(28 + 3 * education, 6)), 0, 80).astype(int)
    married = rng.random(rows) < 1 / (1 + np.exp(-(age - 35) / 5))
    children = np.clip(rng.poisson(np.where(married, 2.0, 0.3)), 0, 6)
    score = np.clip(rng.beta(2 + segment, 3), 0, 1)
    churn = rng.random(rows) < 0.05 + 0.6 * score * (segment == 0)
    return pd.DataFrame({
        "region": np.array(REGIONS, dtype=object)[region],
        "segment": np.array(SEGMENTS, dtype=object)[segment],
        "age": age,
        "education": np.array(EDUCATION, dtype=object)[education],
        "income": income,
        "sex": np.array(["female", "male"], dtype=object)[sex],
        "race": np.array(RACES, dtype=object)[race],
        "hours": hours,
        "married": married,
        "children": children,
        "score": score,
        "churn": np.array(["no", "yes"], dtype=object)[churn.astype(int)],
    })  # fmt: skip


def generated_encoding() -> Encoding:
    columns = [
        _column("region", "string", categories=REGIONS, nullable=False),
        _column("segment", "string", categories=SEGMENTS, nullable=False),
        _column("age", "integer", lower_bound=Decimal(18), upper_bound=Decimal(90), nullable=False),
        _column("education", "string", categories=EDUCATION, nullable=False),
        _column("income", "float", lower_bound=Decimal(0), upper_bound=Decimal(200_000), nullable=False),
        _column("sex", "string", categories=["female", "male"], nullable=False),
        _column("race", "string", categories=RACES, nullable=False),
        _column("hours", "integer", lower_bound=Decimal(0), upper_bound=Decimal(80), nullable=False),
        _column("married", "boolean", nullable=False),
        _column("children", "integer", lower_bound=Decimal(0), upper_bound=Decimal(6), nullable=False),
        _column("score", "float", lower_bound=Decimal(0), upper_bound=Decimal(1), nullable=False),
        _column("churn", "string", categories=["no", "yes"], nullable=False),
    ]
    return Encoding(tuple(column_code(c) for c in columns))


# --------------------------------------------------------------------------- one configuration


def _tvd(encoding: Encoding, real: pd.DataFrame, sample: pd.DataFrame) -> tuple[float, float]:
    from apps.synth.engine import FrameSource
    from apps.synth.engine.utility import compare

    cliques = [(a, b) for i, a in enumerate(encoding.names) for b in encoding.names[i + 1 :]]
    report = compare(encoding, FrameSource(real).marginals(encoding, cliques), encode_frame(encoding, sample))
    return report["mean_one_way"], report["mean_two_way"]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(method: str, data: str) -> dict[str, Any]:
    from apps.synth.engine import FrameSource, synthesize

    if data == "adult":
        raw, frame, encoding = adult()
    else:
        frame, encoding = generated(50_000), generated_encoding()
        raw = frame
    rows = len(frame)
    out: dict[str, Any] = {"method": method, "data": data, "rows": rows}
    start = time.perf_counter()
    if method == "portal":
        result = synthesize(source=FrameSource(frame), encoding=encoding, synthesizer="mst", epsilon=EPSILON,
                            delta=DELTA, rows=rows, progress=lambda *_: None, should_stop=lambda: False)  # fmt: skip
        sample = result.frame
        out["spent_rho"] = str(result.spent.rho)
    elif method == "smartnoise":
        import warnings

        from snsynth import Synthesizer

        warnings.filterwarnings("ignore")
        synth = Synthesizer.create("mst", epsilon=float(EPSILON), delta=float(DELTA))
        synth.fit(raw, preprocessor_eps=PREPROCESSOR_EPS)
        sample = synth.sample(rows)
        if data == "adult":
            sample = sample.rename(columns={csv: name for name, csv in ADULT_COLUMNS}).replace("?", np.nan)
    else:
        rng = np.random.default_rng()
        sample = pd.DataFrame({c: frame[c].to_numpy()[rng.permutation(rows)] for c in frame.columns})
    out["seconds"] = time.perf_counter() - start
    out["peak_mib"] = _peak_mib()
    out["tvd1"], out["tvd2"] = _tvd(encoding, frame, sample)
    return out


def run_big(sample_rows: int) -> dict[str, Any]:
    from apps.synth.engine import BackendSource, synthesize, utility_report

    source = BackendSource(backend=_bench_backend(), table_schema="public", table_name="synth_big",
                           privacy_unit="person_id", max_rows_per_unit=1, unit_unique=True)  # fmt: skip
    encoding = generated_encoding()
    start = time.perf_counter()
    result = synthesize(source=source, encoding=encoding, synthesizer="mst", epsilon=EPSILON, delta=DELTA,
                        rows=sample_rows, progress=lambda *_: None, should_stop=lambda: False)  # fmt: skip
    seconds = time.perf_counter() - start
    peak = _peak_mib()
    report = utility_report(source=source, encoding=encoding, sample=result.frame)
    return {"method": "portal (PostgreSQL)", "data": "gen1M", "rows": BIG_ROWS, "sample_rows": sample_rows,
            "seconds": seconds, "peak_mib": peak, "tvd1": report["mean_one_way"], "tvd2": report["mean_two_way"],
            "spent_rho": str(result.spent.rho)}  # fmt: skip


# --------------------------------------------------------------------------- the PostgreSQL table


def _server() -> dict[str, Any]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    host = db.get("HOST") or "127.0.0.1"
    return {"host": host, "port": int(db.get("PORT") or 5432), "user": db.get("USER") or "postgres"}


def _bench_backend() -> Any:
    from apps.domains.models import Backend

    server = _server()
    url = f"postgresql://{server['user']}@{server['host']}:{server['port']}/{BENCH_DB}"
    return Backend(kind=Backend.Kind.POSTGRESQL, url=url, encrypted_password=b"")


def load_big(reuse: bool) -> None:
    import psycopg

    server = _server()
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    with psycopg.connect(dbname=BENCH_DB, autocommit=True, **server) as db:
        present = db.execute("SELECT to_regclass('public.synth_big') IS NOT NULL").fetchone()[0]
        if present and reuse and db.execute("SELECT count(*) FROM synth_big").fetchone()[0] == BIG_ROWS:
            return
        db.execute("DROP TABLE IF EXISTS synth_big")
        db.execute(
            "CREATE TABLE synth_big (person_id bigint PRIMARY KEY, region text NOT NULL, segment text NOT NULL, "
            "age integer NOT NULL, education text NOT NULL, income double precision NOT NULL, sex text NOT NULL, "
            "race text NOT NULL, hours integer NOT NULL, married boolean NOT NULL, children integer NOT NULL, "
            "score double precision NOT NULL, churn text NOT NULL)"
        )
        frame = generated(BIG_ROWS, seed=7)
        frame.insert(0, "person_id", np.arange(1, BIG_ROWS + 1))
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False)
        with db.cursor().copy("COPY synth_big FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        db.execute("ANALYZE synth_big")


# --------------------------------------------------------------------------- driver


def _child(*args: str) -> dict[str, Any]:
    completed = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = "\n".join(completed.stderr.splitlines()[-15:])
        raise SystemExit(f"{' '.join(args)} failed ({completed.returncode}):\n{tail}")
    return json.loads(lines[-1])


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--big", type=int, metavar="SAMPLE_ROWS", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help="keep the 1M-row table if it is already loaded")
    parser.add_argument("--skip-smartnoise", action="store_true", help="leave smartnoise-synth out (slow)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return
    if args.big:
        print(json.dumps(run_big(args.big)))
        return

    print(f"epsilon {EPSILON}, delta {DELTA}; smartnoise preprocessor_eps {PREPROCESSOR_EPS} (out of its epsilon 1)")
    results: list[dict[str, Any]] = []
    methods = ["portal", "independent"] + ([] if args.skip_smartnoise else ["smartnoise"])
    for data in ("adult", "gen50k"):
        for method in methods:
            print(f"  running {method} on {data} ...", flush=True)
            results.append(_child("--one", method, data))
    print("  loading 1,000,000 rows into PostgreSQL ...", flush=True)
    load_big(args.reuse)
    print("  running portal on the 1M-row PostgreSQL table ...", flush=True)
    results.append(_child("--big", "50000"))

    by = {(r["method"], r["data"]): r for r in results}
    print()
    print(f"{'data':8} {'method':22} {'rows':>9} {'fit+sample s':>12} {'peak MiB':>9} {'TVD 1-way':>10} "
          f"{'TVD 2-way':>10} {'time vs portal':>15} {'2-way vs portal':>16}")  # fmt: skip
    for r in results:
        base = by.get(("portal", r["data"]), by[("portal", "gen50k")])
        print(f"{r['data']:8} {r['method']:22} {r['rows']:>9,} {r['seconds']:>12.1f} {r['peak_mib']:>9.0f} "
              f"{_fmt(r['tvd1'], '.4f'):>10} {_fmt(r['tvd2'], '.4f'):>10} "
              f"{r['seconds'] / base['seconds']:>14.2f}x {r['tvd2'] / base['tvd2']:>15.2f}x")  # fmt: skip
    print()
    portal50, big = by[("portal", "gen50k")], by[("portal (PostgreSQL)", "gen1M")]
    checks = [
        (f"mean 2-way TVD on gen50k <= {TARGET_TVD2_50K}", portal50["tvd2"] <= TARGET_TVD2_50K,
         f"{portal50['tvd2']:.4f}"),
        ("mean 2-way TVD on adult below the independent baseline",
         by[("portal", "adult")]["tvd2"] < by[("independent", "adult")]["tvd2"],
         f"{by[('portal', 'adult')]['tvd2']:.4f} vs {by[('independent', 'adult')]['tvd2']:.4f}"),
        (f"1M rows in PostgreSQL in <= {TARGET_BIG_TIME_RATIO}x the 50k time",
         big["seconds"] <= TARGET_BIG_TIME_RATIO * portal50["seconds"],
         f"{big['seconds']:.1f} s vs {portal50['seconds']:.1f} s ({big['seconds'] / portal50['seconds']:.2f}x)"),
        (f"1M rows in PostgreSQL in <= {TARGET_BIG_GIB} GiB", big["peak_mib"] <= TARGET_BIG_GIB * 1024,
         f"{big['peak_mib'] / 1024:.2f} GiB peak RSS (50k in memory: {portal50['peak_mib'] / 1024:.2f} GiB)"),
    ]  # fmt: skip
    if not args.skip_smartnoise:
        for data in ("adult", "gen50k"):
            plain, portal = by[("smartnoise", data)], by[("portal", data)]
            checks.append((f"portal MST on {data} in no more time than plain smartnoise MST",
                           portal["seconds"] <= plain["seconds"],
                           f"{portal['seconds']:.1f} s vs {plain['seconds']:.1f} s"))  # fmt: skip
    for label, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {detail}")


if __name__ == "__main__":
    main()
