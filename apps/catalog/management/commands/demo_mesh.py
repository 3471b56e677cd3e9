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
        for backend, changes in report.harvests.items():
            counts = ", ".join(f"{len(v)} {k}" for k, v in changes.items() if isinstance(v, list))
            self.stdout.write(f"harvested {backend}: {counts or 'nothing new'}")
        if report.created_users or password:
            self.stdout.write(self.style.SUCCESS(
                f"Demo logins: {', '.join(('admin', 'alice', 'bob', 'charlie'))} / password: {report.password}"
            ))
        else:
            self.stdout.write("Demo users already existed; their passwords were left as they were.")
