"""The lineage panel of a dataset page (filled in by the lineage app)."""

from django import template

register = template.Library()
