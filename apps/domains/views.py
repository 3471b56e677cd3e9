"""Backend pages: a domain's backends, registering one, testing it and harvesting it.

Viewers of a domain see its backends; owners and admins change them. "Test connection" and
"Harvest now" answer HTMX fragments (a run's fragment polls itself every second until it is
finished); without JavaScript they redirect back to the backend's page.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.catalog.harvest_selectors import harvest_run_get_for, harvest_run_list_for
from apps.catalog.harvest_services import harvest_request
from apps.catalog.selectors import domain_get_for
from apps.core.errors import ApplicationError
from apps.core.views import is_htmx, refusals_shown
from apps.domains.forms import BackendRegisterForm, BackendUpdateForm
from apps.domains.permissions import can_edit, ensure_can_edit
from apps.domains.selectors import backend_get_for, backend_list_for
from apps.domains.services import backend_check, backend_delete, backend_register, backend_update

View = Callable[..., HttpResponse]




def _form_error(form: Form, exc: ApplicationError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


@login_required
@require_GET
def backend_list(request: HttpRequest, domain: str) -> HttpResponse:
    found = domain_get_for(user=request.user, slug=domain)
    context = {
        "domain": found,
        "backends": backend_list_for(user=request.user, domain_slug=found.slug),
        "can_edit": can_edit(request.user, found),
    }
    return render(request, "domains/backend_list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def backend_create(request: HttpRequest, domain: str) -> HttpResponse:
    found = domain_get_for(user=request.user, slug=domain)
    ensure_can_edit(request.user, found)
    form = BackendRegisterForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            backend = backend_register(actor=request.user, domain=found, **form.cleaned_data)
        except ApplicationError as exc:
            if exc.status_code in (403, 404):
                raise
            _form_error(form, exc)
        else:
            messages.success(request, f"Registered {backend}: the connection works.")
            return redirect("domains:backend_detail", domain=found.slug, backend=backend.slug)
    status = 400 if form.is_bound else 200
    return render(request, "domains/backend_form.html", {"domain": found, "form": form}, status=status)


@login_required
@require_GET
def backend_detail(request: HttpRequest, domain: str, backend: str) -> HttpResponse:
    found = backend_get_for(user=request.user, domain_slug=domain, slug=backend)
    runs = list(harvest_run_list_for(user=request.user, backend=found)[:5])
    context = {
        "backend": found,
        "domain": found.domain,
        "runs": runs,
        "run": runs[0] if runs else None,
        "can_edit": can_edit(request.user, found),
    }
    return render(request, "domains/backend_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def backend_edit(request: HttpRequest, domain: str, backend: str) -> HttpResponse:
    found = backend_get_for(user=request.user, domain_slug=domain, slug=backend)
    ensure_can_edit(request.user, found)
    form = BackendUpdateForm(request.POST if request.method == "POST" else None, initial={"url": found.url})
    if form.is_bound and form.is_valid():
        try:
            backend_update(
                actor=request.user, backend=found, url=form.cleaned_data["url"],
                password=form.cleaned_data["password"] or None, clear_password=form.cleaned_data["clear_password"],
            )  # fmt: skip
        except ApplicationError as exc:
            if exc.status_code in (403, 404):
                raise
            _form_error(form, exc)
        else:
            messages.success(request, f"Saved {found}: the connection works.")
            return redirect("domains:backend_detail", domain=found.domain.slug, backend=found.slug)
    status = 400 if form.is_bound else 200
    context = {"domain": found.domain, "backend": found, "form": form}
    return render(request, "domains/backend_edit.html", context, status=status)


@login_required
@require_POST
@refusals_shown
def backend_remove(request: HttpRequest, domain: str, backend: str) -> HttpResponse:
    found = backend_get_for(user=request.user, domain_slug=domain, slug=backend)
    backend_delete(actor=request.user, backend=found)
    messages.success(request, f"Removed the backend {found.domain.slug}.{found.slug}.")
    return redirect("domains:backend_list", domain=found.domain.slug)


@login_required
@require_POST
@refusals_shown
def backend_test(request: HttpRequest, domain: str, backend: str) -> HttpResponse:
    found = backend_get_for(user=request.user, domain_slug=domain, slug=backend)
    checked = backend_check(actor=request.user, backend=found)
    if is_htmx(request):
        return render(request, "domains/_health.html", {"backend": checked})
    return redirect("domains:backend_detail", domain=found.domain.slug, backend=found.slug)


@login_required
@require_POST
@refusals_shown
def backend_harvest(request: HttpRequest, domain: str, backend: str) -> HttpResponse:
    found = backend_get_for(user=request.user, domain_slug=domain, slug=backend)
    run = harvest_request(actor=request.user, backend=found)
    if is_htmx(request):
        return render(request, "domains/_harvest_run.html", {"run": run}, status=202)
    return redirect("domains:harvest_run", pk=run.pk)


@login_required
@require_GET
def harvest_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = harvest_run_get_for(user=request.user, pk=pk)
    if is_htmx(request):
        return render(request, "domains/_harvest_run.html", {"run": run})
    context = {"run": run, "backend": run.backend, "domain": run.backend.domain}
    return render(request, "domains/harvest_run.html", context)
