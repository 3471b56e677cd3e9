"""Usage pages: the KPI dashboards (domain, product, dataset) with their CSV export, and the audit
trail (browse, filter, export). Who sees what is decided in ``apps.usage.kpis`` and
``apps.usage.selectors``: anyone else gets a 404."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.views import refusals_shown
from apps.usage.kpis import (
    PERIODS,
    Kpis,
    Scope,
    dataset_scope_for,
    domain_scope_for,
    kpis_csv_rows,
    kpis_for,
    period_days,
    product_scope_for,
    scopes_for,
)
from apps.usage.models import AuditEvent
from apps.usage.selectors import (
    AuditFilters,
    audit_csv_lines,
    audit_domains_for,
    audit_list_for,
    audit_page_for,
    csv_text,
)


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _filename(scope: Scope, days: int) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in scope.slug)[:120]
    return f"usage-{safe}-{days}d.csv"


def _dashboard(request: HttpRequest, scope: Scope, *, export: bool) -> HttpResponse:
    days = period_days(request.GET.get("days"))
    kpis: Kpis = kpis_for(scope, days=days)
    if export:
        return _csv_response(csv_text(kpis_csv_rows(kpis)), _filename(scope, days))
    return render(request, "usage/dashboard.html", {"kpis": kpis, "scope": scope, "periods": PERIODS})


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    scopes = scopes_for(user=request.user)
    try:
        audit_domains_for(request.user)
        can_audit = True
    except Http404:  # no audit rows to show
        can_audit = False
    return render(request, "usage/index.html", {"scopes": scopes, "can_audit": can_audit})


@login_required
@require_GET
@refusals_shown
def domain_dashboard(request: HttpRequest, domain: str, export: bool = False) -> HttpResponse:
    return _dashboard(request, domain_scope_for(user=request.user, slug=domain), export=export)


@login_required
@require_GET
@refusals_shown
def product_dashboard(request: HttpRequest, domain: str, product: str, export: bool = False) -> HttpResponse:
    return _dashboard(request, product_scope_for(user=request.user, domain_slug=domain, slug=product), export=export)


@login_required
@require_GET
@refusals_shown
def dataset_dashboard(request: HttpRequest, address: str, export: bool = False) -> HttpResponse:
    return _dashboard(request, dataset_scope_for(user=request.user, address=address), export=export)


@login_required
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    filters = AuditFilters.parse(request.GET)
    page = audit_page_for(user=request.user, filters=filters)
    context = {"page": page, "outcomes": AuditEvent.Outcome.choices, "query": filters.query()}
    return render(request, "usage/audit.html", context)


@login_required
@require_GET
def audit_export(request: HttpRequest) -> StreamingHttpResponse:
    filters = AuditFilters.parse(request.GET)
    rows = audit_list_for(user=request.user, filters=filters).iterator(chunk_size=2000)
    response = StreamingHttpResponse(audit_csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
