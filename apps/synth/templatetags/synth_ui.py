"""The synthetic-data panel of a dataset page, and display helpers of the synth pages.

On a confidential dataset the panel shows its DP preview (a noisy histogram per column and a small
synthetic sample, funded by the owners from the dataset-wide budget, free for every viewer), the
owner's refresh button, the viewer's samples of it and the "Generate synthetic data" link. On a
synthetic sample it shows where the sample comes from, its parameters, its first rows and downloads.
Charts are SVG drawn here from the stored DP results (no script, no style attribute).
"""

from dataclasses import dataclass
from typing import Any

from django import template

from apps.catalog.models import Dataset
from apps.domains.permissions import can_manage_policies
from apps.synth.models import SynthJob
from apps.synth.selectors import (
    synth_jobs_of_dataset,
    synth_preview_for,
    synth_preview_pending,
    synth_preview_sample,
)

register = template.Library()

CHART_HEIGHT = 60
BAR_STEP = 10


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: int
    y: float
    height: float


@dataclass(frozen=True)
class Histogram:
    column: str
    bars: list[Bar]
    width: int
    height: int
    total: int


def histograms(profile: dict[str, Any] | None) -> list[Histogram]:
    charts = []
    for column, histogram in (profile or {}).items():
        labels = [str(label) for label in histogram.get("labels", [])]
        counts = [max(0, int(count)) for count in histogram.get("counts", [])]
        top = max(counts, default=0) or 1
        bars = []
        for index, (label, count) in enumerate(zip(labels, counts, strict=False)):
            height = round(CHART_HEIGHT * count / top, 2)
            bars.append(Bar(label, count, index * BAR_STEP + 1, round(CHART_HEIGHT - height, 2), height))
        charts.append(
            Histogram(str(column), bars, max(len(bars), 1) * BAR_STEP, CHART_HEIGHT, sum(counts))
        )
    return charts


@dataclass(frozen=True)
class HeatCell:
    value: float | None
    level: int
    text: str


@dataclass(frozen=True)
class HeatMap:
    columns: list[str]
    rows: list[tuple[str, list[HeatCell]]]
    mean_one_way: float | None
    mean_two_way: float | None


def _cell(value: Any) -> HeatCell:
    if value is None:
        return HeatCell(None, -1, "—")
    number = float(value)
    return HeatCell(number, min(9, max(0, int(number * 20))), f"{number:.3f}")


def heat_map(utility: dict[str, Any] | None) -> HeatMap | None:
    """The utility report as a column-by-column grid: 2-way TVD off the diagonal, 1-way on it."""
    if not utility:
        return None
    one_way = utility.get("one_way") or {}
    columns = [str(name) for name in one_way]
    pairs: dict[tuple[str, str], Any] = {}
    for entry in utility.get("two_way") or []:
        if isinstance(entry, list | tuple) and len(entry) == 3:
            a, b, tvd = str(entry[0]), str(entry[1]), entry[2]
            pairs[(a, b)] = pairs[(b, a)] = tvd
            for name in (a, b):
                if name not in columns:
                    columns.append(name)
    rows = []
    for row in columns:
        cells = [_cell(one_way.get(row) if row == col else pairs.get((row, col))) for col in columns]
        rows.append((row, cells))
    return HeatMap(columns, rows, utility.get("mean_one_way"), utility.get("mean_two_way"))


def panel_context(user: Any, dataset: Dataset) -> dict[str, Any]:
    if dataset.kind == Dataset.Kind.SYNTHETIC:
        job = SynthJob.objects.filter(output=dataset).select_related("dataset", "reservation").first()
        sample = synth_preview_sample(job, limit=20) if job else {"columns": [], "rows": []}
        return {"mode": "synthetic", "dataset": dataset, "job": job, "sample": sample, "user": user}
    if not dataset.is_confidential or dataset.removed_at is not None:
        return {"mode": "", "dataset": dataset}
    preview = synth_preview_for(user=user, dataset=dataset)
    return {
        "mode": "preview",
        "dataset": dataset,
        "preview": preview,
        "charts": histograms(preview.profile) if preview else [],
        "sample": synth_preview_sample(preview) if preview else {"columns": [], "rows": []},
        "pending": synth_preview_pending(dataset=dataset),
        "can_refresh": can_manage_policies(user, dataset),
        "samples": synth_jobs_of_dataset(user=user, dataset=dataset)[:10],
        "user": user,
    }


@register.inclusion_tag("synth/_panel.html", takes_context=True)
def synth_panel(context: template.Context, dataset: Dataset) -> dict[str, Any]:
    user = context.get("user")
    if dataset is None or user is None or not user.is_authenticated:
        return {"mode": ""}
    return {**panel_context(user, dataset), "csrf_token": context.get("csrf_token")}


@register.filter
def seconds(value: int | None) -> str:
    if value is None:
        return "estimating the time left…"
    minutes, secs = divmod(int(value), 60)
    return f"about {minutes} min {secs:02d} s left" if minutes else f"about {secs} s left"
