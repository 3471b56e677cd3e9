"""Synthetic-data pages: the form (with a live cost preview), a job's page with its live progress,
the history, downloads, and the owner's refresh of a dataset's DP preview.

A job's page polls its own fragment every second while the job is queued or running (phase,
percent, ETA). What a user may not see (a dataset of an invisible domain, another user's job) is 404.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.catalog.models import Dataset
from apps.catalog.selectors import dataset_list_for
from apps.catalog.views import login_required
from apps.core.errors import ApplicationError
from apps.core.views import is_htmx, refusals_shown
from apps.domains.models import Sensitivity
from apps.privacy.browse import dataset_access_for
from apps.synth import services
from apps.synth.apis import sample_response
from apps.synth.forms import SynthForm
from apps.synth.models import SynthJob
from apps.synth.selectors import dataset_for, synth_job_charge, synth_job_get_for, synth_job_list_for
from apps.synth.templatetags.synth_ui import heat_map

# --- the form --------------------------------------------------------------------------------


def _source_dataset(request: HttpRequest, address: str | None) -> Dataset:
    """A confidential table dataset the user may see; ``Http404`` for the rest."""
    dataset = dataset_for(user=request.user, address=address or "")
    if not dataset.is_confidential or dataset.kind != Dataset.Kind.TABLE or dataset.removed_at is not None:
        raise Http404("Not found.")
    return dataset


def _form(dataset: Dataset, data: Any = None) -> SynthForm:
    engine = services.engine()
    choices = [(info.name, info.label) for info in engine.SYNTHESIZERS.values()]
    return SynthForm(data, dataset=dataset, synthesizers=choices, default=engine.DEFAULT_SYNTHESIZER)


@dataclass
class CostView:
    data: dict[str, Any] | None = None
    message: str = ""
    status: int = 200


def _cost(request: HttpRequest, dataset: Dataset, form: SynthForm) -> CostView:
    try:
        return CostView(data=services.synth_preview_cost(user=request.user, dataset=dataset, **form.values()))
    except ApplicationError as exc:
        return CostView(message=exc.message, status=exc.status_code)


def _form_context(request: HttpRequest, dataset: Dataset, form: SynthForm, cost: CostView) -> dict[str, Any]:
    engine = services.engine()
    return {
        "dataset": dataset,
        "form": form,
        "cost": cost,
        "access": dataset_access_for(user=request.user, dataset=dataset),
        "synthesizers": list(engine.SYNTHESIZERS.values()),
        "not_offered": sorted(engine.NOT_OFFERED.items()),
    }


@login_required
@require_GET
def new(request: HttpRequest) -> HttpResponse:
    address = request.GET.get("dataset")
    if not address:
        datasets = dataset_list_for(user=request.user).filter(
            sensitivity=Sensitivity.CONFIDENTIAL, kind=Dataset.Kind.TABLE
        )
        return render(request, "synth/choose.html", {"datasets": datasets.order_by("address")})
    dataset = _source_dataset(request, address)
    form = _form(dataset)
    return render(request, "synth/new.html", _form_context(request, dataset, form, _cost(request, dataset, form)))


@login_required
@require_POST
def cost(request: HttpRequest) -> HttpResponse:
    dataset = _source_dataset(request, request.POST.get("dataset"))
    form = _form(dataset, request.POST)
    result = _cost(request, dataset, form)
    if is_htmx(request):
        return render(request, "synth/_cost.html", {"cost": result}, status=result.status)
    return render(request, "synth/new.html", _form_context(request, dataset, form, result), status=result.status)


@login_required
@require_POST
def submit(request: HttpRequest) -> HttpResponse:
    dataset = _source_dataset(request, request.POST.get("dataset"))
    form = _form(dataset, request.POST)
    try:
        job = services.synth_submit(
            actor=request.user, dataset=dataset, request_id=request.request_id, **form.values()
        )
    except ApplicationError as exc:
        context = _form_context(request, dataset, form, CostView(message=exc.message, status=exc.status_code))
        context["refusal"] = exc.message
        return render(request, "synth/new.html", context, status=exc.status_code)
    return redirect("synth:job", pk=job.pk)


# --- a job -----------------------------------------------------------------------------------


def _job_context(request: HttpRequest, job: SynthJob, **extra: Any) -> dict[str, Any]:
    owner_view = services.can_see_utility(request.user, job)
    return {
        "job": job,
        "charge": synth_job_charge(job),
        "is_submitter": job.owner_id == request.user.pk,
        "utility": job.utility if owner_view else None,
        "heat": heat_map(job.utility) if owner_view and job.utility else None,
        **extra,
    }


@login_required
@require_GET
def job_page(request: HttpRequest, pk: int) -> HttpResponse:
    job = synth_job_get_for(user=request.user, pk=pk)
    template = "synth/_job.html" if is_htmx(request) else "synth/job.html"
    return render(request, template, _job_context(request, job))


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = synth_job_get_for(user=request.user, pk=pk)
    try:
        services.synth_cancel(actor=request.user, job=job, request_id=request.request_id)
    except ApplicationError as exc:
        if not is_htmx(request):
            messages.error(request, exc.message)
            return redirect("synth:job", pk=pk)
        job = synth_job_get_for(user=request.user, pk=pk)
        return render(request, "synth/_job.html", _job_context(request, job, refusal=exc.message))
    job = synth_job_get_for(user=request.user, pk=pk)
    if not is_htmx(request):
        messages.success(request, "Cancellation asked: the job stops and this page shows what was charged.")
        return redirect("synth:job", pk=pk)
    return render(request, "synth/_job.html", _job_context(request, job))


def _download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    job = synth_job_get_for(user=request.user, pk=pk)
    content = services.synth_sample_download(actor=request.user, job=job, fmt=fmt, request_id=request.request_id)
    return sample_response(job, fmt, content)


@login_required
@require_GET
@refusals_shown
def sample_csv(request: HttpRequest, pk: int) -> HttpResponse:
    return _download(request, pk, "csv")


@login_required
@require_GET
@refusals_shown
def sample_parquet(request: HttpRequest, pk: int) -> HttpResponse:
    return _download(request, pk, "parquet")


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    page = Paginator(synth_job_list_for(user=request.user), 50).get_page(request.GET.get("page"))
    rows = [{"job": job, "charge": synth_job_charge(job)} for job in page.object_list]
    return render(request, "synth/history.html", {"page": page, "rows": rows})


# --- the preview of a dataset ----------------------------------------------------------------


@login_required
@require_POST
@refusals_shown
def preview_refresh(request: HttpRequest, address: str) -> HttpResponse:
    dataset = dataset_for(user=request.user, address=address)
    services.synth_preview_refresh(
        actor=request.user, dataset=dataset, epsilon=request.POST.get("epsilon") or None, request_id=request.request_id
    )
    if is_htmx(request):
        return preview_panel(request, address)
    messages.success(request, "A fresh DP preview is being made; this page shows it when it is ready.")
    return redirect("catalog:dataset", address=dataset.address)


@login_required
@require_GET
def preview_panel(request: HttpRequest, address: str) -> HttpResponse:
    from apps.synth.templatetags.synth_ui import panel_context

    dataset = dataset_for(user=request.user, address=address)
    return render(request, "synth/_preview.html", panel_context(request.user, dataset))
