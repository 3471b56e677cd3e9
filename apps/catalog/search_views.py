"""The search page: a plain GET form that HTMX enhances by swapping the results as the user types."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from apps.catalog.search import MAX_OFFSET, catalog_search
from apps.usage.access import audit_search

PAGE_SIZE = 20
LAST_PAGE = MAX_OFFSET // PAGE_SIZE + 1


def _page_number(raw: str | None) -> int:
    """A page out of range or not a number shows the nearest page rather than an error."""
    try:
        page = int(raw or 1)
    except ValueError:
        return 1
    return min(max(page, 1), LAST_PAGE)


@login_required
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    page = _page_number(request.GET.get("page"))
    result = catalog_search(
        user=request.user,
        query=request.GET.get("q", ""),
        domains=request.GET.getlist("domain"),
        sensitivities=request.GET.getlist("sensitivity"),
        tags=request.GET.getlist("tag"),
        owners=request.GET.getlist("owner"),
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    audit_search(request, query=result.query, total=result.total, via="page")
    last_page = min(max(1, -(-result.total // PAGE_SIZE)), LAST_PAGE)
    partial = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"
    template = "catalog/_search_results.html" if partial else "catalog/search.html"
    response = render(request, template, {"result": result, "page": page, "last_page": last_page})
    patch_vary_headers(response, ["HX-Request"])
    return response
