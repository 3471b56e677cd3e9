"""The lineage panel of a dataset page: ``{% load lineage_ui %}`` then ``{% lineage_panel dataset %}``."""

from typing import Any

from django import template

from apps.lineage.presenters import explorer_context
from apps.lineage.selectors import GraphOptions

register = template.Library()


@register.inclusion_tag("lineage/_panel.html", takes_context=True)
def lineage_panel(context: template.Context, dataset: Any) -> dict[str, Any]:
    request = context["request"]
    return {
        **explorer_context(user=request.user, address=dataset.address, options=GraphOptions(), full_page=False),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
