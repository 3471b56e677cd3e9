import os

from django.core.management.base import BaseCommand, CommandParser

from apps.catalog.demo import demo_mesh_load


class Command(BaseCommand):
    help = "Load the demo mesh (hr, sales, marketing), idempotently. Prints the demo logins it creates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            default=os.environ.get("PORTAL_DEMO_PASSWORD", ""),
            help="Password of the demo users (default: PORTAL_DEMO_PASSWORD, or a random one for new users).",
        )

    def handle(self, *args: object, password: str, **options: object) -> None:
        report = demo_mesh_load(password=password or None)
        from apps.accounts.models import User
        from apps.lineage.demo import demo_lineage_load

        if demo_lineage_load(actor=User.objects.get(username="admin")):
            self.stdout.write("recorded the demo lineage: sales.shop.orders -> marketing.campaigns.regional_sales")
        from apps.usage.demo import demo_usage_load

        if created := demo_usage_load():
            self.stdout.write(f"recorded {created} demo usage events over the past weeks")
        from apps.privacy.demo import demo_privacy_load

        if demo_privacy_load():
            self.stdout.write("set the demo privacy budget of hr.census.adult and the analysts' DP policy on it")
        from apps.synth.services import synth_demo_load

        if synth_demo_load():
            self.stdout.write("queued the DP preview of hr.census.adult (a worker makes it)")
        from apps.synth.demo import demo_sample_load

        if demo_sample_load():
            self.stdout.write("queued bob's DP synthetic sample of hr.census.adult (a worker makes it)")
        for backend, changes in report.harvests.items():
            counts = ", ".join(f"{len(v)} {k}" for k, v in changes.items() if isinstance(v, list))
            self.stdout.write(f"harvested {backend}: {counts or 'nothing new'}")
        if report.created_users or password:
            self.stdout.write(self.style.SUCCESS(
                f"Demo logins: {', '.join(('admin', 'alice', 'bob', 'charlie'))} / password: {report.password}"
            ))
        else:
            self.stdout.write("Demo users already existed; their passwords were left as they were.")
