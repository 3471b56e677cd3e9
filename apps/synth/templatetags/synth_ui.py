"""The synthetic-data panel of a dataset page (filled in by the synth app)."""

from django import template

register = template.Library()
