from typing import Any

from django import template
from django.utils.html import format_html_join

from apps.usage.freshness import freshness_of

register = template.Library()


@register.inclusion_tag("usage/_freshness.html")
def freshness_flag(dataset: Any, full: bool = False) -> dict[str, Any]:
    """A "stale" flag (or, with ``full``, the fresh state too) for a dataset's page or a search hit."""
    return {"freshness": freshness_of(dataset), "full": full}


@register.simple_tag
def trend_rows(trend: list[dict[str, Any]]) -> str:
    """The rows of the trend table (up to 365), escaped; built here because a template loop over a
    year of days costs more than the whole KPI query."""
    return format_html_join(
        "",
        '<tr><th scope="row">{}</th><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
        '<td class="num">{}</td><td class="num">{}</td></tr>',
        (
            (row["day"].isoformat(), row["views"], row["users"], row["queries"], row["synth_jobs"], row["downloads"])
            for row in trend
        ),
    )
