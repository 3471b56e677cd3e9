"""Lineage pages: the datasets with lineage, and the graph around one of them.

The graph is drawn by ``static/js/lineage.js`` with the vendored Cytoscape.js; the same edges are
always in a plain table, and the controls are an ordinary GET form, so the page reads without JS."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.catalog.views import login_required
from apps.core.errors import ApplicationError
from apps.core.views import refusals_shown
from apps.lineage.presenters import explorer_context
from apps.lineage.selectors import GraphOptions, lineage_datasets_for
from apps.lineage.serializers import GraphQuerySerializer
from apps.usage.access import audited_dataset_access


def _options(request: HttpRequest, address: str) -> GraphOptions:
    query = GraphQuerySerializer(data={**request.GET.dict(), "dataset": address})
    if not query.is_valid():
        name, messages = next(iter(query.errors.items()))
        raise ApplicationError(f"{name}: {' '.join(str(m) for m in messages)}", field=name)
    params = query.validated_data
    return GraphOptions(up=params["up"], down=params["down"], domain=params["domain"], tag=params["tag"],
                        columns=params["columns"])


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    wanted = request.GET.get("dataset", "").strip()
    if wanted and len(wanted) <= 300 and "/" not in wanted:  # no catalog address has a slash
        return redirect(reverse("lineage:dataset", args=[wanted]))
    return render(request, "lineage/index.html", {"datasets": lineage_datasets_for(user=request.user)})


@login_required
@require_GET
@refusals_shown
@audited_dataset_access("lineage.view")
def dataset_page(request: HttpRequest, address: str) -> HttpResponse:
    context: dict[str, Any] = explorer_context(user=request.user, address=address,
                                               options=_options(request, address), full_page=True)
    return render(request, "lineage/dataset.html", context)
