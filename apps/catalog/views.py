"""Catalog pages: browse domains, products and datasets; owners edit in place.

Each editable part of a page (a description section, a schema row) has two endpoints: ``…/about/``
(or the row's URL) shows it and ``…/edit/`` edits it. With HTMX they answer fragments swapped in
place; without JavaScript the edit endpoint is an ordinary form page that redirects back on save.
Validation errors come back in the form with status 400 (``static/js/portal.js`` lets htmx swap
them); a refusal is 403; what the user may not see is 404.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required as django_login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from apps.catalog import browse
from apps.catalog.forms import ColumnForm, DatasetForm, DescriptionForm, EditForm, ProductForm
from apps.catalog.models import Column, DataProduct, Dataset
from apps.catalog.selectors import dataset_get_for, domain_get_for, product_get_for
from apps.catalog.services import column_update, dataset_update, domain_update, product_update
from apps.core.errors import ApplicationError
from apps.core.views import is_htmx, refusals_shown
from apps.domains.models import Domain
from apps.domains.permissions import can_edit, ensure_can_edit
from apps.usage.access import audited_dataset_access

View = Callable[..., HttpResponse]



def login_required(view: View) -> View:
    """Django's ``login_required``; for an HTMX request, ``HX-Redirect`` so that the browser goes
    to the login page instead of swapping it into a fragment (XHR follows redirects silently)."""
    protected = django_login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if is_htmx(request) and not request.user.is_authenticated:
            target = request.headers.get("HX-Current-URL") or request.get_full_path()
            response = HttpResponse(status=204)
            response["HX-Redirect"] = redirect_to_login(target)["Location"]
            return response
        return protected(request, *args, **kwargs)

    return wrapper


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None



# --- browse ---------------------------------------------------------------------------------


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/home.html", {"domains": browse.home_domains_for(user=request.user)})


@login_required
@require_GET
def domain_page(request: HttpRequest, domain: str) -> HttpResponse:
    page = browse.domain_page_for(user=request.user, slug=domain)
    context = {"page": page, "domain": page.domain, "can_edit": page.can_edit, "part": _domain_part(page.domain)}
    return render(request, "catalog/domain.html", context)


@login_required
@require_GET
def product_page(request: HttpRequest, domain: str, product: str) -> HttpResponse:
    page = browse.product_page_for(user=request.user, domain_slug=domain, slug=product)
    context = {
        "page": page,
        "product": page.product,
        "domain": page.product.domain,
        "can_edit": page.can_edit,
        "part": _product_part(page.product),
    }
    return render(request, "catalog/product.html", context)


@login_required
@require_GET
@audited_dataset_access("dataset.view")
def dataset_page(request: HttpRequest, address: str) -> HttpResponse:
    page = browse.dataset_page_for(user=request.user, address=address)
    context = {
        "page": page,
        "dataset": page.dataset,
        "columns": page.dataset.current_columns,
        "can_edit": page.can_edit,
        "preview": page.preview,
        "part": _dataset_part(page.dataset),
    }
    return render(request, "catalog/dataset.html", context)


# --- inline edits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One editable part of a page and the templates that show and edit it."""

    title: str
    page_url: str
    show_url: str
    edit_url: str
    display_template: str
    form_template: str
    context: dict[str, Any] = field(default_factory=dict)
    row_form_template: str = ""


def _show(request: HttpRequest, part: Part, *, can_edit: bool, saved: bool = False) -> HttpResponse:
    if not is_htmx(request):
        return redirect(part.page_url)
    context = {**part.context, "part": part, "can_edit": can_edit, "saved": saved}
    return render(request, part.display_template, context)


def _form(request: HttpRequest, part: Part, form: EditForm, *, status: int = 200) -> HttpResponse:
    context = {**part.context, "part": part, "form": form}
    if not is_htmx(request):
        return render(request, "catalog/edit_page.html", context, status=status)
    return render(request, part.row_form_template or part.form_template, context, status=status)


def _edit(request: HttpRequest, form: EditForm, part: Part, save: Callable[[dict[str, Any]], Part]) -> HttpResponse:
    if request.method != "POST":
        return _form(request, part, form)
    if not form.is_valid():
        return _form(request, part, form, status=400)
    try:
        saved_part = save(form.changes())
    except ApplicationError as exc:
        form.add_application_error(exc)
        return _form(request, part, form, status=exc.status_code)
    return _show(request, saved_part, can_edit=True, saved=True)


def _domain_part(domain: Domain) -> Part:
    return Part(
        title=f"Edit the description of {domain.name}",
        page_url=reverse("catalog:domain", args=[domain.slug]) + "#about",
        show_url=reverse("catalog:domain_about", args=[domain.slug]),
        edit_url=reverse("catalog:domain_edit", args=[domain.slug]),
        display_template="catalog/_about.html",
        form_template="catalog/_about_form.html",
        context={"obj": domain},
    )


def _product_part(product: DataProduct) -> Part:
    args = [product.domain.slug, product.slug]
    return Part(
        title=f"Edit the description of {product.name}",
        page_url=reverse("catalog:product", args=args) + "#about",
        show_url=reverse("catalog:product_about", args=args),
        edit_url=reverse("catalog:product_edit", args=args),
        display_template="catalog/_about.html",
        form_template="catalog/_about_form.html",
        context={"obj": product},
    )


def _dataset_part(dataset: Dataset) -> Part:
    return Part(
        title=f"Edit {dataset.address}",
        page_url=reverse("catalog:dataset", args=[dataset.address]) + "#about",
        show_url=reverse("catalog:dataset_about", args=[dataset.address]),
        edit_url=reverse("catalog:dataset_edit", args=[dataset.address]),
        display_template="catalog/_dataset_about.html",
        form_template="catalog/_dataset_about_form.html",
        context={"dataset": dataset},
    )


def _column_part(column: Column) -> Part:
    address = column.dataset.address
    return Part(
        title=f"Edit the column {column.name} of {address}",
        page_url=reverse("catalog:dataset", args=[address]) + f"#col-{column.pk}",
        show_url=reverse("catalog:column", args=[address, column.pk]),
        edit_url=reverse("catalog:column_edit", args=[address, column.pk]),
        display_template="catalog/_column_row.html",
        form_template="catalog/_column_form.html",
        row_form_template="catalog/_column_row_form.html",
        context={"column": column, "dataset": column.dataset},
    )


@login_required
@require_GET
def domain_about(request: HttpRequest, domain: str) -> HttpResponse:
    obj = domain_get_for(user=request.user, slug=domain)
    return _show(request, _domain_part(obj), can_edit=can_edit(request.user, obj))


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def domain_edit(request: HttpRequest, domain: str) -> HttpResponse:
    obj = domain_get_for(user=request.user, slug=domain)
    ensure_can_edit(request.user, obj)

    def save(changes: dict[str, Any]) -> Part:
        return _domain_part(domain_update(actor=request.user, domain=obj, request_id=request.request_id, **changes))

    return _edit(request, DescriptionForm(_posted(request), obj=obj), _domain_part(obj), save)


@login_required
@require_GET
def product_about(request: HttpRequest, domain: str, product: str) -> HttpResponse:
    obj = product_get_for(user=request.user, domain_slug=domain, slug=product)
    return _show(request, _product_part(obj), can_edit=can_edit(request.user, obj))


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def product_edit(request: HttpRequest, domain: str, product: str) -> HttpResponse:
    obj = product_get_for(user=request.user, domain_slug=domain, slug=product)
    ensure_can_edit(request.user, obj)

    def save(changes: dict[str, Any]) -> Part:
        updated = product_update(actor=request.user, product=obj, request_id=request.request_id, **changes)
        return _product_part(updated)

    return _edit(request, ProductForm(_posted(request), obj=obj), _product_part(obj), save)


@login_required
@require_GET
def dataset_about(request: HttpRequest, address: str) -> HttpResponse:
    dataset = dataset_get_for(user=request.user, address=address)
    return _show(request, _dataset_part(dataset), can_edit=can_edit(request.user, dataset))


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def dataset_edit(request: HttpRequest, address: str) -> HttpResponse:
    dataset = dataset_get_for(user=request.user, address=address)
    ensure_can_edit(request.user, dataset)

    def save(changes: dict[str, Any]) -> Part:
        updated = dataset_update(actor=request.user, dataset=dataset, request_id=request.request_id, **changes)
        return _dataset_part(updated)

    return _edit(request, DatasetForm(_posted(request), dataset=dataset), _dataset_part(dataset), save)


@login_required
@require_GET
def column_row(request: HttpRequest, address: str, pk: int) -> HttpResponse:
    column = browse.column_get_for(user=request.user, address=address, pk=pk)
    return _show(request, _column_part(column), can_edit=can_edit(request.user, column))


@login_required
@require_http_methods(["GET", "POST"])
@refusals_shown
def column_edit(request: HttpRequest, address: str, pk: int) -> HttpResponse:
    column = browse.column_get_for(user=request.user, address=address, pk=pk)
    ensure_can_edit(request.user, column)

    def save(changes: dict[str, Any]) -> Part:
        updated = column_update(actor=request.user, column=column, request_id=request.request_id, **changes)
        return _column_part(updated)

    return _edit(request, ColumnForm(_posted(request), column=column), _column_part(column), save)
