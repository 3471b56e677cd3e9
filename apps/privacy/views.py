"""Privacy pages: the policy editor of a dataset (owners and admins), one user's grants and
budgets, and access requests.

What a user may not see or manage is 404, for viewers of the dataset as for strangers. Policy rows
are edited in place with HTMX (the same URLs serve plain forms without JavaScript); a change answers
the whole policies section (``HX-Retarget``), since it can change which policy governs whom.
Validation errors come back in the form with the service's message and status 400.
"""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.catalog.views import login_required
from apps.core.errors import ApplicationError
from apps.core.views import is_htmx, refusals_shown
from apps.domains.permissions import can_manage_policies
from apps.privacy import browse
from apps.privacy.forms import AccessRequestForm, DatasetBudgetForm, DecisionForm, PolicyForm, PrivacyForm
from apps.privacy.models import Policy
from apps.privacy.requests import (
    access_request_approve,
    access_request_create,
    access_request_deny,
    access_request_withdraw,
)
from apps.privacy.selectors import access_request_get_for, dataset_budget_of, dataset_policies
from apps.privacy.services import dataset_budget_set, policy_revoke, policy_save

View = Callable[..., HttpResponse]




def _form_failed(form: PrivacyForm, exc: ApplicationError) -> int:
    """Attach a service's refusal to the form; refusals of the person (403/404) are not form errors."""
    if exc.status_code in (403, 404):
        raise exc
    form.add_application_error(exc)
    return exc.status_code


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


# --- overview pages --------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    rows = browse.managed_rows_for(user=request.user)
    if not rows and not request.user.is_superuser:
        return redirect("privacy:me")
    pending = sum(row.pending_requests for row in rows)
    return render(request, "privacy/index.html", {"rows": rows, "pending": pending})


@login_required
@require_GET
def my_page(request: HttpRequest) -> HttpResponse:
    page = browse.user_page_for(viewer=request.user)
    return render(request, "privacy/user.html", {"page": page, "own": True})


@login_required
@require_GET
def user_page(request: HttpRequest, username: str) -> HttpResponse:
    page = browse.user_page_for(viewer=request.user, username=username)
    return render(request, "privacy/user.html", {"page": page, "own": page.subject == request.user})


# --- the policy editor -----------------------------------------------------------------------


def _editor_url(address: str, anchor: str = "") -> str:
    return reverse("privacy:dataset", args=[address]) + (f"#{anchor}" if anchor else "")


@login_required
@require_GET
def dataset_editor(request: HttpRequest, address: str) -> HttpResponse:
    page = browse.editor_page_for(user=request.user, address=address)
    context = {
        "page": page,
        "dataset": page.dataset,
        "budget": page.budget,
        "usage": page.usage,
        "budget_form": DatasetBudgetForm(budget=page.budget),
        "policies": page.policies,
        "accounts": page.accounts,
        "create_form": PolicyForm(dataset=page.dataset),
    }
    return render(request, "privacy/dataset.html", context)


def _standalone(request: HttpRequest, fragment: str, context: dict[str, Any], *, title: str, status: int = 200) -> Any:
    context = {**context, "fragment": fragment, "title": title, "standalone": True}
    return render(request, "privacy/form_page.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def dataset_budget(request: HttpRequest, address: str) -> HttpResponse:
    dataset = browse.managed_dataset_get_for(user=request.user, address=address)
    budget, balance = dataset_budget_of(dataset)
    form = DatasetBudgetForm(_posted(request), budget=budget)
    status, saved = 200, False
    if request.method == "POST" and form.is_valid():
        try:
            dataset_budget_set(actor=request.user, dataset=dataset, request_id=request.request_id, **form.cleaned_data)
        except ApplicationError as exc:
            status = _form_failed(form, exc)
        else:
            if not is_htmx(request):
                messages.success(request, f"Saved the dataset-wide budget of {dataset.address}.")
                return redirect(_editor_url(dataset.address, "dataset-budget"))
            budget, balance = dataset_budget_of(dataset)
            form, saved = DatasetBudgetForm(budget=budget), True
    elif request.method == "GET" and not is_htmx(request):
        return redirect(_editor_url(dataset.address, "dataset-budget"))
    context = {
        "dataset": dataset,
        "budget": budget,
        "usage": browse.usage_of(balance),
        "budget_form": form,
        "saved": saved,
    }
    if is_htmx(request):
        return render(request, "privacy/_budget.html", context, status=status)
    return _standalone(request, "privacy/_budget.html", context, title=f"Budget of {dataset.address}", status=status)


def _policies_section(request: HttpRequest, dataset: Any, message: str) -> HttpResponse:
    if not is_htmx(request):
        messages.success(request, message)
        return redirect(_editor_url(dataset.address, "policies"))
    policies, accounts = browse.policy_rows(dataset)
    context = {
        "dataset": dataset,
        "policies": policies,
        "accounts": accounts,
        "create_form": PolicyForm(dataset=dataset),
        "message": message,
    }
    response = render(request, "privacy/_policies.html", context)
    response["HX-Retarget"] = "#policies"
    response["HX-Reswap"] = "outerHTML"
    return response


def _save_policy(request: HttpRequest, form: PolicyForm) -> tuple[Policy | None, int]:
    if not form.is_valid():
        return None, 400
    try:
        return policy_save(actor=request.user, request_id=request.request_id, **form.values()), 200
    except ApplicationError as exc:
        return None, _form_failed(form, exc)


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def policy_create(request: HttpRequest, address: str) -> HttpResponse:
    dataset = browse.managed_dataset_get_for(user=request.user, address=address)
    form = PolicyForm(_posted(request), dataset=dataset)
    status = 200
    if request.method == "POST":
        policy, status = _save_policy(request, form)
        if policy is not None:
            return _policies_section(request, dataset, f"Saved the policy of {policy.subject_label}.")
    context = {"dataset": dataset, "create_form": form}
    if is_htmx(request):
        return render(request, "privacy/_policy_create.html", context, status=status)
    return _standalone(request, "privacy/_policy_create.html", context, title="New policy", status=status)


def _policy_on(dataset: Any, pk: int) -> Policy:
    policy = dataset_policies(dataset=dataset).filter(pk=pk).first()
    if policy is None:
        raise Http404("Not found.")
    return policy


@login_required
@require_GET
def policy_row(request: HttpRequest, address: str, pk: int) -> HttpResponse:
    dataset = browse.managed_dataset_get_for(user=request.user, address=address)
    policy = _policy_on(dataset, pk)
    if not is_htmx(request):
        return redirect(_editor_url(dataset.address, f"policy-{policy.pk}"))
    row = next(row for row in browse.policy_rows(dataset)[0] if row.policy.pk == policy.pk)
    return render(request, "privacy/_policy_row.html", {"dataset": dataset, "row": row})


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def policy_edit(request: HttpRequest, address: str, pk: int) -> HttpResponse:
    dataset = browse.managed_dataset_get_for(user=request.user, address=address)
    policy = _policy_on(dataset, pk)
    form = PolicyForm(_posted(request), dataset=dataset, policy=policy)
    status = 200
    if request.method == "POST":
        saved, status = _save_policy(request, form)
        if saved is not None:
            return _policies_section(request, dataset, f"Saved the policy of {saved.subject_label}.")
    context = {"dataset": dataset, "policy": policy, "form": form}
    if is_htmx(request):
        return render(request, "privacy/_policy_row_form.html", context, status=status)
    title = f"Edit the policy of {policy.subject_label}"
    return _standalone(request, "privacy/_policy_form.html", context, title=title, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def policy_remove(request: HttpRequest, address: str, pk: int) -> HttpResponse:
    dataset = browse.managed_dataset_get_for(user=request.user, address=address)
    policy = _policy_on(dataset, pk)
    confirmed = request.method == "POST" and request.POST.get("confirm") == "revoke"
    if confirmed:
        subject = policy.subject_label
        policy_revoke(actor=request.user, policy=policy, request_id=request.request_id)
        return _policies_section(request, dataset, f"Revoked the policy of {subject}.")
    status = 400 if request.method == "POST" else 200
    context = {"dataset": dataset, "policy": policy, "unconfirmed": status == 400}
    if is_htmx(request):
        return render(request, "privacy/_policy_revoke_row.html", context, status=status)
    title = f"Revoke the policy of {policy.subject_label}"
    return _standalone(request, "privacy/_policy_revoke_form.html", context, title=title, status=status)


# --- access requests -------------------------------------------------------------------------


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    lists = browse.request_lists_for(user=request.user)
    return render(request, "privacy/requests.html", {"lists": lists})


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def request_create(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    dataset = browse.requestable_dataset_get_for(user=request.user, address=source.get("dataset"))
    access = browse.dataset_access_for(user=request.user, dataset=dataset)
    form = AccessRequestForm(_posted(request), current=access.policy)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            created = access_request_create(
                actor=request.user, dataset=dataset, request_id=request.request_id, **form.cleaned_data
            )
        except ApplicationError as exc:
            status = _form_failed(form, exc)
        else:
            messages.success(request, f"Your request was sent to the owners of {dataset.address}.")
            return redirect("privacy:request", pk=created.pk)
    context = {"dataset": dataset, "access": access, "form": form}
    return render(request, "privacy/request_new.html", context, status=status)


def _request_page(request: HttpRequest, page: browse.RequestPage, form: Form | None, status: int = 200) -> Any:
    return render(request, "privacy/request.html", {"page": page, "access": page.request, "form": form}, status=status)


@login_required
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    page = browse.request_page_for(user=request.user, pk=pk)
    form = DecisionForm(request=page.request, current=page.current_policy) if page.can_decide else None
    return _request_page(request, page, form)


@login_required
@require_POST
@refusals_shown
def request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    page = browse.request_page_for(user=request.user, pk=pk)
    access = page.request
    if not can_manage_policies(request.user, access.dataset):
        raise Http404("Not found.")
    form = DecisionForm(request.POST, request=access, current=page.current_policy)
    decision = request.POST.get("decision")
    form.is_valid()
    try:
        if decision == "approve":
            access_request_approve(actor=request.user, request=access, request_id=request.request_id, **form.approval())
        elif decision == "deny":
            comment = form.cleaned_data["comment"]
            access_request_deny(actor=request.user, request=access, comment=comment, request_id=request.request_id)
        else:
            raise ApplicationError("Choose to approve or to deny the request.")
    except ApplicationError as exc:
        status = _form_failed(form, exc)
        fresh = browse.request_page_for(user=request.user, pk=pk)
        if not fresh.can_decide:
            raise  # decided meanwhile: the refusal page names the new state
        return _request_page(request, fresh, form, status)
    verb = "Approved" if decision == "approve" else "Denied"
    messages.success(request, f"{verb} the request of {access.requester.username} on {access.dataset.address}.")
    return redirect("privacy:request", pk=access.pk)


@login_required
@require_POST
@refusals_shown
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    access = access_request_get_for(user=request.user, pk=pk)
    access_request_withdraw(actor=request.user, request=access, request_id=request.request_id)
    messages.success(request, f"You withdrew your request on {access.dataset.address}.")
    return redirect("privacy:request", pk=access.pk)
