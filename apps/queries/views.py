"""Query pages: the editor with its live cost and accuracy preview, a job's page, the history.

The editor previews as the analyst types (HTMX posts the form to ``preview/``; a refusal comes back
in place with its status, 400 or 403, which ``static/js/portal.js`` swaps). Nothing is charged
before Submit. Without JavaScript the Preview button posts the same form and gets the whole page.
A job's page polls its own fragment every second while the job is queued or running. What a user
may not see (a dataset of an invisible domain, another user's job) is 404.
"""

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.models import Dataset
from apps.catalog.selectors import dataset_get_for, dataset_list_for
from apps.catalog.views import login_required
from apps.core.errors import ApplicationError
from apps.core.views import is_htmx
from apps.domains.models import Sensitivity
from apps.privacy.browse import dataset_access_for
from apps.privacy.forms import plain
from apps.privacy.models import LedgerEntry
from apps.queries.forms import QueryForm
from apps.queries.models import QueryJob
from apps.queries.selectors import query_job_get_for, query_job_list_for
from apps.queries.services import query_cancel, query_preview, query_result_download, query_submit

# --- the editor ------------------------------------------------------------------------------


def _queryable_dataset(request: HttpRequest, address: str | None) -> Dataset:
    """A confidential dataset the user may see; ``Http404`` for the rest, open datasets included."""
    dataset = dataset_get_for(user=request.user, address=address or "")
    if not dataset.is_confidential or dataset.removed_at is not None:
        raise Http404("Not found.")
    return dataset


@dataclass
class Preview:
    """What the preview fragment shows: the service's answer, or the refusal that replaced it."""

    data: dict[str, Any] | None = None
    message: str = ""
    status: int = 200
    empty: bool = False


def _preview(request: HttpRequest, dataset: Dataset, form: QueryForm) -> Preview:
    values = form.values()
    if not values["sql"].strip():
        return Preview(empty=True)
    try:
        data = query_preview(user=request.user, dataset=dataset, **values)
    except ApplicationError as exc:
        return Preview(message=exc.message, status=exc.status_code)
    return Preview(data=data)


def _editor_context(request: HttpRequest, dataset: Dataset, form: QueryForm, preview: Preview) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "columns": dataset.current_columns,
        "form": form,
        "preview": preview,
        "access": dataset_access_for(user=request.user, dataset=dataset),
    }


def _dataset_chooser(request: HttpRequest) -> HttpResponse:
    datasets = dataset_list_for(user=request.user).filter(sensitivity=Sensitivity.CONFIDENTIAL)
    return render(request, "queries/choose.html", {"datasets": datasets.order_by("address")})


@login_required
@require_GET
def editor(request: HttpRequest) -> HttpResponse:
    address = request.GET.get("dataset")
    if not address:
        return _dataset_chooser(request)
    dataset = _queryable_dataset(request, address)
    # "Ask again" links prefill the form; a GET never charges, so the preview runs at once.
    prefill = {key: request.GET[key] for key in ("sql", "mechanism", "epsilon", "rho", "delta") if key in request.GET}
    form = QueryForm(initial={**QueryForm().initial, **prefill, "dataset": dataset.address})
    preview = _preview(request, dataset, form)
    return render(request, "queries/editor.html", _editor_context(request, dataset, form, preview))


@login_required
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    dataset = _queryable_dataset(request, request.POST.get("dataset"))
    form = QueryForm(request.POST)
    result = _preview(request, dataset, form)
    if is_htmx(request):
        return render(request, "queries/_preview.html", {"preview": result}, status=result.status)
    context = _editor_context(request, dataset, form, result)
    return render(request, "queries/editor.html", context, status=result.status)


@login_required
@require_POST
def submit(request: HttpRequest) -> HttpResponse:
    dataset = _queryable_dataset(request, request.POST.get("dataset"))
    form = QueryForm(request.POST)
    try:
        job = query_submit(actor=request.user, dataset=dataset, request_id=request.request_id, **form.values())
    except ApplicationError as exc:
        context = _editor_context(request, dataset, form, Preview(message=exc.message, status=exc.status_code))
        context["refusal"] = exc.message
        return render(request, "queries/editor.html", context, status=exc.status_code)
    return redirect("queries:job", pk=job.pk)


# --- a job -----------------------------------------------------------------------------------


@dataclass
class Cell:
    text: str
    interval: str = ""
    numeric: bool = False


@dataclass
class ResultView:
    """The stored noisy answer, ready for the table and the chart (no value is computed here)."""

    columns: list[str]
    group_columns: list[str]
    rows: list[list[Cell]]
    chart: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _format(value: float, *, integer: bool) -> str:
    if integer and value == int(value):
        return f"{int(value):,}"
    magnitude = abs(value)
    places = 0 if magnitude >= 1000 else 1 if magnitude >= 100 else 2 if magnitude >= 1 else 4
    return f"{value:,.{places}f}"


def _cell(value: Any, interval: Any) -> Cell:
    number = _number(value)
    if number is None:
        return Cell(text="—" if value is None else str(value))
    integer = isinstance(value, int)
    low, high = (_number(interval[0]), _number(interval[1])) if isinstance(interval, list | tuple) else (None, None)
    if low is None or high is None:
        return Cell(text=_format(number, integer=integer), numeric=True)
    half = (high - low) / 2
    symmetric = math.isclose(number - low, high - number, rel_tol=1e-6, abs_tol=1e-9)
    shown = (
        f"± {_format(half, integer=integer)}"
        if symmetric
        else (f"[{_format(low, integer=False)}, {_format(high, integer=False)}]")
    )
    return Cell(text=_format(number, integer=integer), interval=shown, numeric=True)


def result_view(job: QueryJob) -> ResultView | None:
    result = job.result
    if job.status != QueryJob.Status.SUCCEEDED or not isinstance(result, dict):
        return None
    columns = [str(name) for name in result.get("columns", [])]
    kinds = {output.get("name"): output.get("kind") for output in (job.plan or {}).get("outputs", [])}
    groups = [name for name in columns if kinds.get(name) == "group"]
    rows = result.get("rows", [])
    intervals = result.get("ci") or [[None] * len(columns) for _ in rows]
    table = [[_cell(v, ci) for v, ci in zip(row, cis, strict=False)] for row, cis in zip(rows, intervals, strict=False)]
    return ResultView(
        columns=columns,
        group_columns=groups,
        rows=table,
        chart=_chart_data(columns, groups, rows, intervals),
        notes=[str(note) for note in result.get("notes", [])],
    )


def _chart_data(columns: list[str], groups: list[str], rows: list[list[Any]], intervals: list[list[Any]]) -> dict:
    group_at = [columns.index(name) for name in groups]
    labels = [" · ".join(str(row[i]) for i in group_at) or "All rows" for row in rows]
    series = []
    for index, name in enumerate(columns):
        if name in groups:
            continue
        values = [_number(row[index]) for row in rows]
        bounds = [cis[index] if isinstance(cis[index], list | tuple) else [None, None] for cis in intervals]
        series.append(
            {
                "name": name,
                "values": values,
                "low": [_number(b[0]) for b in bounds],
                "high": [_number(b[1]) for b in bounds],
            }
        )
    return {"labels": labels, "series": series}


def _charge(job: QueryJob) -> str | None:
    """The reservation's state: "reserved", then "charged" or "released"."""
    if job.reservation is None:
        return None
    endings = {ending.kind for ending in job.reservation.endings.all()}
    if LedgerEntry.Kind.COMMIT in endings:
        return "charged"
    return "released" if LedgerEntry.Kind.RELEASE in endings else "reserved"


def _job_context(job: QueryJob) -> dict[str, Any]:
    ask_again = {"dataset": job.dataset.address, "sql": job.sql, "mechanism": job.mechanism}
    ask_again |= {"rho": plain(job.rho)} if job.mechanism == "gaussian" else {"epsilon": plain(job.epsilon)}
    if job.delta:
        ask_again["delta"] = plain(job.delta)
    return {
        "job": job,
        "result": result_view(job),
        "charge": _charge(job),
        "ask_again": urlencode(ask_again),
    }


@login_required
@require_GET
def job_page(request: HttpRequest, pk: int) -> HttpResponse:
    job = query_job_get_for(user=request.user, pk=pk)
    if is_htmx(request):
        return render(request, "queries/_job.html", _job_context(job))
    return render(request, "queries/job.html", _job_context(job))


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = query_job_get_for(user=request.user, pk=pk)
    try:
        job = query_cancel(actor=request.user, job=job, request_id=request.request_id)
    except ApplicationError as exc:
        if not is_htmx(request):
            messages.error(request, exc.message)
            return redirect("queries:job", pk=pk)
        # The job moved on meanwhile (409): show its fresh state with the reason, swapped in place.
        job = query_job_get_for(user=request.user, pk=pk)
        return render(request, "queries/_job.html", {**_job_context(job), "refusal": exc.message})
    if not is_htmx(request):
        messages.success(request, "The query was cancelled; its reservation was released.")
        return redirect("queries:job", pk=pk)
    return render(request, "queries/_job.html", _job_context(job))


@login_required
@require_GET
def result_csv(request: HttpRequest, pk: int) -> HttpResponse:
    job = query_job_get_for(user=request.user, pk=pk)
    try:
        content = query_result_download(actor=request.user, job=job, request_id=request.request_id)
    except ApplicationError as exc:
        return render(request, "catalog/refusal.html", {"message": exc.message}, status=exc.status_code)
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="query-{job.pk}.csv"'
    return response


# --- history ---------------------------------------------------------------------------------


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(query_job_list_for(user=request.user), 50).get_page(request.GET.get("page"))
    rows = [{"job": job, "charge": _charge(job)} for job in page.object_list]
    return render(request, "queries/history.html", {"page": page, "rows": rows})
