from django.core.management.base import BaseCommand

from apps.usage.rollup import usage_rollup


class Command(BaseCommand):
    help = "Roll up usage KPIs: every finished day not rolled up yet, and today so far. Idempotent."

    def handle(self, *args: object, **options: object) -> None:
        result = usage_rollup()
        self.stdout.write(f"rolled up {result['days']} day(s)")
