from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.core.queues import domain_queues, shared_queues


class Command(BaseCommand):
    help = "Print the comma-separated queues a worker should serve."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--domain", help="Only the private queues of this domain (a worker inside it).")
        parser.add_argument("--all", action="store_true", help="The shared queues and every domain's queues.")

    def handle(self, *args: object, domain: str | None = None, all: bool = False, **options: object) -> None:
        if domain:
            queues = domain_queues(domain)
        else:
            queues = shared_queues()
            if all:
                for slug in settings.PORTAL_DOMAIN_QUEUES:
                    queues += domain_queues(slug)
        self.stdout.write(",".join(queues))
